"""``python -m stager``: the same as the ``stager`` command (how images call it, from any venv location)."""

from stager.cli.main import main

main()
