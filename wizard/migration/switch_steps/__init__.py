"""The switch's step handlers, one module per kind of step, and the SwitchContext they share.
May import the rest of `wizard.migration` (never `switch`, which dispatches to them), `wizard.k8s`, shared."""
