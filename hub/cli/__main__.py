"""``python -m hub.cli``: the ``crmhub`` command."""

from hub.cli.main import main

main()
