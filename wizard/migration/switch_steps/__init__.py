"""The switch's step handlers, one module per kind of step, and the SwitchContext they share.

May import `wizard.migration` (not `switch` itself), `wizard.k8s` and the shared modules; no UI, no lab."""
