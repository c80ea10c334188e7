"""The lab's nodes: the kubelet (pod start, probes, restarts, termination, logs, exec) and the pod
runtime. Imports only the lab's own modules and `wizard.errors`."""
