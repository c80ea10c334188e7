"""The lab's control plane: Deployment/ReplicaSet/DaemonSet controllers, scheduler, endpoints,
garbage collection, the kube-dns autoscaler, Events.
Imports only the lab's own modules and `wizard.errors`."""
