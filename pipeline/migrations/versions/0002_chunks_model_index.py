"""an index on the model and dimensions of each chunk's vector, for search

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_chunks_model", "chunks", ["embedding_model", "embedding_dimensions"])


def downgrade() -> None:
    op.drop_index("ix_chunks_model", table_name="chunks")
