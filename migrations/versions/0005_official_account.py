"""Official Account login: WeChat's QR url on the ticket, pushed events (for retries), confirm links.

Times are stored as naive UTC (app.models.UTCDateTime).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 15:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('qr_url', sa.String(length=512), nullable=True))

    op.create_table('oa_events',
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('ticket_id', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_oa_events'))
    )
    with op.batch_alter_table('oa_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oa_events_created_at'), ['created_at'], unique=False)

    op.create_table('oa_confirm_links',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('ticket_id', sa.String(length=32), nullable=False),
    sa.Column('openid', sa.String(length=64), nullable=False),
    sa.Column('scanned_by_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['scanned_by_id'], ['users.id'], name=op.f('fk_oa_confirm_links_scanned_by_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_oa_confirm_links_ticket_id_tickets'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_oa_confirm_links_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_oa_confirm_links'))
    )
    with op.batch_alter_table('oa_confirm_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oa_confirm_links_ticket_id'), ['ticket_id'], unique=False)


def downgrade():
    with op.batch_alter_table('oa_confirm_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_oa_confirm_links_ticket_id'))
    op.drop_table('oa_confirm_links')
    with op.batch_alter_table('oa_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_oa_events_created_at'))
    op.drop_table('oa_events')
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_column('qr_url')
