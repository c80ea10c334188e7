"""`python -m wizard` runs the same command line as `coredns-wizard`."""

from wizard.cli import main

raise SystemExit(main())
