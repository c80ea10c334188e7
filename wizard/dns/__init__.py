"""DNS configuration knowledge: Corefiles, CoreDNS versions and plugins, the checker, kube-dns
configuration and its translation. Pure data and logic: imports nothing of k8s, migration, lab or UI."""
