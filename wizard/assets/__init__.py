"""Data files the wizard reads at run time (manifest template, stylesheet), read with importlib.resources."""
