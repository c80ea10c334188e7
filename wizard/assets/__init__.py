"""Data files the wizard reads at run time (the switch2coredns.yaml template), through
importlib.resources, in a checkout and in an installed wheel alike."""
