"""``crmhub``: the command line. Exit codes: 0 ok, 1 failure, 2 usage/config.

The ``crmhub`` group and the one place every command group is registered on it:
:mod:`hub.cli.main`. What the commands share (options, opening the hub, output):
:mod:`hub.cli.common`. The commands: :mod:`~hub.cli.operations` (run, sync, status,
config, plugins, db), :mod:`~hub.cli.contacts` (contacts, export),
:mod:`~hub.cli.quarantine`, :mod:`~hub.cli.match` (match, review, unmerge) and
:mod:`~hub.cli.routing` (assign, rules).
"""
