"""The ``crmhub`` group, and every command group registered on it, here and only here."""

from __future__ import annotations

import click

from hub import __version__
from hub.cli import contacts, match, operations, privacy, quarantine, routing


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="crmhub")
def main() -> None:
    """crmhub: contacts from every source in one deduplicated, routed model."""


COMMANDS: tuple[click.Command, ...] = (
    # run / sync / status, config, plugins, db
    operations.run, operations.sync, operations.status, operations.connectors_group,
    operations.config_group,
    operations.plugins, operations.plugin_group, operations.db_group,
    # contacts, export, quarantine
    contacts.contacts_group, contacts.export_group, quarantine.quarantine_group,
    # matching: match, review, companies, unmerge, split
    *match.COMMANDS,
    # routing: assign, rules
    routing.assign_group, routing.rules_group, routing.deliveries_group,
    # privacy: person export / forget, retention
    privacy.person_group, privacy.retention_group,
)

for command in COMMANDS:
    main.add_command(command)


if __name__ == "__main__":
    main()
