"""One module per subcommand. Each defines HELP, `add_arguments(parser)` and `run(args) -> int`.

Modules here import only the standard library at module level, so that `coredns-wizard --help`
stays fast; heavy libraries (kubernetes, ruamel.yaml, dnspython) are imported inside `run`.
"""
