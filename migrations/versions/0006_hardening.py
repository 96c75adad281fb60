"""Hardening: tickets remember the network they came from (the /64 for IPv6), and
open tickets are counted per browser and per network.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pc_net', sa.String(length=64), nullable=False, server_default=''))
        batch_op.create_index('ix_tickets_pc_net_status', ['pc_net', 'status'], unique=False)
        batch_op.create_index('ix_tickets_browser_hash_status', ['browser_hash', 'status'], unique=False)
    # Tickets already there came from an address: it stands for its own network.
    op.execute("UPDATE tickets SET pc_net = pc_ip")


def downgrade():
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_browser_hash_status')
        batch_op.drop_index('ix_tickets_pc_net_status')
        batch_op.drop_column('pc_net')
