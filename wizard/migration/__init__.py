"""The switch itself: cluster facts, pre-flight, the plan, manifests, journal and switch state, the
steps of switch, rollback and clean-up, probes and status. May import k8s and dns; never the lab or UI."""
