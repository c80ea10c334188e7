"""Data files the wizard reads at run time (manifest template, stylesheet), installed as wizard.assets."""
