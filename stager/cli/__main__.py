"""``python -m stager.cli``: the same as the ``stager`` command."""

from stager.cli.main import main

main()
