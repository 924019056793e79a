"""routing: owners, teams, assignments, rr_state, scores, stage changes, sink deliveries

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 18:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table("owners",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("emails", sa.JSON(), nullable=False),
        sa.Column("extensions", sa.JSON(), nullable=False),
        sa.Column("team", sa.String(length=100), nullable=True),
        sa.Column("manager", sa.String(length=100), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("daily_cap", sa.Integer(), nullable=True),
        sa.Column("monthly_cap", sa.Integer(), nullable=True),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("working_hours", sa.JSON(), nullable=False),
        sa.Column("out_of_office", sa.JSON(), nullable=False),
        sa.Column("config_hash", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_owners"))
    )
    op.create_index(op.f("ix_owners_manager"), "owners", ["manager"])
    op.create_index(op.f("ix_owners_team"), "owners", ["team"])
    op.create_table("rr_state",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("last_owner", sa.String(length=100), nullable=True),
        sa.Column("weights", sa.JSON(), nullable=False),
        sa.Column("assigned", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rr_state"))
    )
    op.create_table("sink_cursors",
        sa.Column("sink", sa.String(length=100), nullable=False),
        sa.Column("last_event_id", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sink", name=op.f("pk_sink_cursors"))
    )
    op.create_table("teams",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("manager", sa.String(length=100), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("config_hash", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams"))
    )
    op.create_table("sink_deliveries",
        sa.Column("id", ID, nullable=False),
        sa.Column("event_id", ID, nullable=False),
        sa.Column("sink", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["outbox.id"],
                            name=op.f("fk_sink_deliveries_event_id_outbox"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sink_deliveries")),
        sa.UniqueConstraint("event_id", "sink", name="uq_sink_deliveries_event_sink")
    )
    op.create_index("ix_sink_deliveries_due", "sink_deliveries", ["status", "next_attempt_at"])
    op.create_table("assignments",
        sa.Column("id", ID, nullable=False),
        sa.Column("contact_id", ID, nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=True),
        sa.Column("queue", sa.String(length=100), nullable=True),
        sa.Column("previous_owner", sa.String(length=100), nullable=True),
        sa.Column("rule", sa.String(length=200), nullable=True),
        sa.Column("rule_index", sa.Integer(), nullable=True),
        sa.Column("strategy", sa.String(length=60), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("by", sa.String(length=10), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=True),
        sa.Column("explanation", sa.JSON(), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("ruleset", sa.String(length=64), nullable=True),
        sa.Column("current", sa.Boolean(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sla_seconds", sa.Float(), nullable=True),
        sa.Column("sla_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sla_state", sa.String(length=12), nullable=True),
        sa.Column("touched_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"],
                            name=op.f("fk_assignments_contact_id_contacts"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignments"))
    )
    op.create_index(op.f("ix_assignments_at"), "assignments", ["at"])
    op.create_index("ix_assignments_contact_current", "assignments", ["contact_id", "current"])
    op.create_index("ix_assignments_owner_at", "assignments", ["owner", "at"])
    op.create_index("ix_assignments_sla", "assignments", ["sla_state", "sla_due_at"])
    op.create_table("contact_scores",
        sa.Column("contact_id", ID, nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("breakdown", sa.JSON(), nullable=False),
        sa.Column("inputs_hash", sa.String(length=64), nullable=False),
        sa.Column("decays", sa.Boolean(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"],
                            name=op.f("fk_contact_scores_contact_id_contacts"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("contact_id", name=op.f("pk_contact_scores"))
    )
    op.create_table("stage_changes",
        sa.Column("id", ID, nullable=False),
        sa.Column("contact_id", ID, nullable=False),
        sa.Column("from_stage", sa.String(length=40), nullable=True),
        sa.Column("to_stage", sa.String(length=40), nullable=False),
        sa.Column("rule", sa.String(length=200), nullable=True),
        sa.Column("by", sa.String(length=10), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"],
                            name=op.f("fk_stage_changes_contact_id_contacts"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stage_changes"))
    )
    op.create_index(op.f("ix_stage_changes_contact_id"), "stage_changes", ["contact_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_stage_changes_contact_id"), table_name="stage_changes")
    op.drop_table("stage_changes")
    op.drop_table("contact_scores")
    op.drop_index("ix_assignments_sla", table_name="assignments")
    op.drop_index("ix_assignments_owner_at", table_name="assignments")
    op.drop_index("ix_assignments_contact_current", table_name="assignments")
    op.drop_index(op.f("ix_assignments_at"), table_name="assignments")
    op.drop_table("assignments")
    op.drop_index("ix_sink_deliveries_due", table_name="sink_deliveries")
    op.drop_table("sink_deliveries")
    op.drop_table("teams")
    op.drop_table("sink_cursors")
    op.drop_table("rr_state")
    op.drop_index(op.f("ix_owners_team"), table_name="owners")
    op.drop_index(op.f("ix_owners_manager"), table_name="owners")
    op.drop_table("owners")
