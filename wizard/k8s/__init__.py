"""Kubernetes access: kubeconfig resolution, the gateway (the one module that talks to the API
server), watches and typed object accessors. May import only `wizard.errors`, `wizard.durations`."""
