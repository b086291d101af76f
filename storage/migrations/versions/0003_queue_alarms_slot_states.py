"""The queue across benches, latched alarms and live slot states.

- jobs.bench: the bench whose slots may run a job (claims filter on it).
- events.bench, events.slot: where an event happened, when it is not tied to a run;
  events.acked_at, events.acked_by: an alarm stays active until acknowledged.
- slot_states: the latest live state of each slot, upserted by its daemon.

Revision ID: 0003
Revises: 0002
Create Date: 2026-05-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bench", sa.String(), nullable=True))
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bench", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("slot", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("acked_at", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("acked_by", sa.String(), nullable=True))
        batch_op.create_index("ix_events_severity_acked", ["severity", "acked_at"], unique=False)
    op.create_table(
        "slot_states",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bench", sa.String(), nullable=False),
        sa.Column("slot", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("step_index", sa.Integer(), nullable=True),
        sa.Column("step_label", sa.String(), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=True),
        sa.Column("voltage_V", sa.Float(), nullable=True),
        sa.Column("current_A", sa.Float(), nullable=True),
        sa.Column("temperature_degC", sa.Float(), nullable=True),
        sa.Column("pressure_Pa", sa.Float(), nullable=True),
        sa.Column("progress", sa.Float(), nullable=True),
        sa.Column("remaining_s", sa.Float(), nullable=True),
        sa.Column("message", sa.String(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"]),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("bench", "slot", name="uq_slot_states_bench_slot"),
    )


def downgrade() -> None:
    op.drop_table("slot_states")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_severity_acked")
        batch_op.drop_column("acked_by")
        batch_op.drop_column("acked_at")
        batch_op.drop_column("slot")
        batch_op.drop_column("bench")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("bench")
