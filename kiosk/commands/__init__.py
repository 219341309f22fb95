"""One module per ``kiosk`` subcommand: docstring (help), ``add_arguments(parser)``, ``run(args)``."""
