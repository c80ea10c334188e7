"""The lab's DNS servers: kube-dns and CoreDNS emulators, the Service proxy, the outside world, DNS
transport. Imports only the lab's own modules and `wizard.errors`."""
