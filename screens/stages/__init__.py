"""One Screen per stage of the procedure; each takes a WizardContext."""
