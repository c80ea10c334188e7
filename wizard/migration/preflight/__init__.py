"""Pre-flight findings: the checks run before a switch (permissions, scheduling room, kube-proxy).
May import the rest of `wizard.migration`, `wizard.k8s` and `wizard.dns`; never the lab or UI."""
