"""OpenID Connect provider: registered apps, pending authorization requests, codes, tokens;
the app a ticket's login is for.

Secrets are stored only as SHA-256 hashes. Times are stored as naive UTC (app.models.UTCDateTime).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 14:51:06.889783

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('oidc_clients',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.String(length=48), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=True),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('redirect_uris', sa.JSON(), nullable=False),
    sa.Column('post_logout_redirect_uris', sa.JSON(), nullable=False),
    sa.Column('trusted', sa.Boolean(), nullable=False),
    sa.Column('allowed_groups', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('secret_rotated_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oidc_clients')),
    sa.UniqueConstraint('client_id', name=op.f('uq_oidc_clients_client_id'))
    )
    op.create_table('oidc_requests',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('client_pk', sa.Integer(), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('browser_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['client_pk'], ['oidc_clients.id'], name=op.f('fk_oidc_requests_client_pk_oidc_clients'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oidc_requests'))
    )
    with op.batch_alter_table('oidc_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oidc_requests_client_pk'), ['client_pk'], unique=False)
        batch_op.create_index(batch_op.f('ix_oidc_requests_expires_at'), ['expires_at'], unique=False)

    op.create_table('oidc_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('client_pk', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('login_session_id', sa.Integer(), nullable=True),
    sa.Column('redirect_uri', sa.String(length=512), nullable=False),
    sa.Column('scope', sa.String(length=255), nullable=False),
    sa.Column('nonce', sa.String(length=255), nullable=True),
    sa.Column('code_challenge', sa.String(length=128), nullable=True),
    sa.Column('code_challenge_method', sa.String(length=8), nullable=True),
    sa.Column('auth_time', sa.DateTime(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('redeemed_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['client_pk'], ['oidc_clients.id'], name=op.f('fk_oidc_codes_client_pk_oidc_clients'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['login_session_id'], ['login_sessions.id'], name=op.f('fk_oidc_codes_login_session_id_login_sessions'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_oidc_codes_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oidc_codes')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_oidc_codes_code_hash'))
    )
    with op.batch_alter_table('oidc_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oidc_codes_client_pk'), ['client_pk'], unique=False)
        batch_op.create_index(batch_op.f('ix_oidc_codes_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_oidc_codes_login_session_id'), ['login_session_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_oidc_codes_user_id'), ['user_id'], unique=False)

    op.create_table('oidc_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_pk', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('login_session_id', sa.Integer(), nullable=True),
    sa.Column('code_id', sa.Integer(), nullable=True),
    sa.Column('family', sa.String(length=32), nullable=False),
    sa.Column('access_token_hash', sa.String(length=64), nullable=False),
    sa.Column('refresh_token_hash', sa.String(length=64), nullable=True),
    sa.Column('scope', sa.String(length=255), nullable=False),
    sa.Column('auth_time', sa.DateTime(), nullable=False),
    sa.Column('issued_at', sa.DateTime(), nullable=False),
    sa.Column('access_expires_at', sa.DateTime(), nullable=False),
    sa.Column('refresh_expires_at', sa.DateTime(), nullable=True),
    sa.Column('refresh_used_at', sa.DateTime(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['client_pk'], ['oidc_clients.id'], name=op.f('fk_oidc_tokens_client_pk_oidc_clients'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['code_id'], ['oidc_codes.id'], name=op.f('fk_oidc_tokens_code_id_oidc_codes'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['login_session_id'], ['login_sessions.id'], name=op.f('fk_oidc_tokens_login_session_id_login_sessions'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_oidc_tokens_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oidc_tokens')),
    sa.UniqueConstraint('access_token_hash', name=op.f('uq_oidc_tokens_access_token_hash')),
    sa.UniqueConstraint('refresh_token_hash', name=op.f('uq_oidc_tokens_refresh_token_hash'))
    )
    with op.batch_alter_table('oidc_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oidc_tokens_access_expires_at'), ['access_expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_oidc_tokens_client_pk'), ['client_pk'], unique=False)
        batch_op.create_index(batch_op.f('ix_oidc_tokens_code_id'), ['code_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_oidc_tokens_family'), ['family'], unique=False)
        batch_op.create_index(batch_op.f('ix_oidc_tokens_login_session_id'), ['login_session_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_oidc_tokens_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('oidc_request_id', sa.String(length=32), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_tickets_oidc_request_id_oidc_requests'), 'oidc_requests', ['oidc_request_id'], ['id'], ondelete='SET NULL')



def downgrade():
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_tickets_oidc_request_id_oidc_requests'), type_='foreignkey')
        batch_op.drop_column('oidc_request_id')

    with op.batch_alter_table('oidc_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_oidc_tokens_user_id'))
        batch_op.drop_index(batch_op.f('ix_oidc_tokens_login_session_id'))
        batch_op.drop_index(batch_op.f('ix_oidc_tokens_family'))
        batch_op.drop_index(batch_op.f('ix_oidc_tokens_code_id'))
        batch_op.drop_index(batch_op.f('ix_oidc_tokens_client_pk'))
        batch_op.drop_index(batch_op.f('ix_oidc_tokens_access_expires_at'))

    op.drop_table('oidc_tokens')
    with op.batch_alter_table('oidc_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_oidc_codes_user_id'))
        batch_op.drop_index(batch_op.f('ix_oidc_codes_login_session_id'))
        batch_op.drop_index(batch_op.f('ix_oidc_codes_expires_at'))
        batch_op.drop_index(batch_op.f('ix_oidc_codes_client_pk'))

    op.drop_table('oidc_codes')
    with op.batch_alter_table('oidc_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_oidc_requests_expires_at'))
        batch_op.drop_index(batch_op.f('ix_oidc_requests_client_pk'))

    op.drop_table('oidc_requests')
    op.drop_table('oidc_clients')
