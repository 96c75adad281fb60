"""WeChat: the shared access token row and cached mini-program codes per ticket.

Times are stored as naive UTC (app.models.UTCDateTime).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 19:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('wechat_access_tokens',
    sa.Column('appid', sa.String(length=64), nullable=False),
    sa.Column('token', sa.String(length=512), nullable=True),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.Column('refreshed_at', sa.DateTime(), nullable=True),
    sa.Column('lease_owner', sa.String(length=32), nullable=True),
    sa.Column('lease_until', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('appid', name=op.f('pk_wechat_access_tokens'))
    )
    op.create_table('wxacode_images',
    sa.Column('ticket_id', sa.String(length=32), nullable=False),
    sa.Column('mimetype', sa.String(length=32), nullable=False),
    sa.Column('image', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_wxacode_images_ticket_id_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('ticket_id', name=op.f('pk_wxacode_images'))
    )


def downgrade():
    op.drop_table('wxacode_images')
    op.drop_table('wechat_access_tokens')
