"""Record which host PC ran each run (provenance for labs with many benches).

Revision ID: 0002
Revises: 0001
Create Date: 2026-05-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("host", sa.String(), nullable=False, server_default=""))
    with op.batch_alter_table("measurement_chunks", schema=None) as batch_op:
        batch_op.create_index("ix_measurement_chunks_run_t", ["run_id", "t_first_s"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("measurement_chunks", schema=None) as batch_op:
        batch_op.drop_index("ix_measurement_chunks_run_t")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("host")
