"""Accounts: identities per WeChat app, a public user id, verified phone, blocking, access lists.

Every existing user keeps their row (and so their PC sessions and mini-program
tokens); their openid becomes an identity whose app id is recorded at their next
sign-in (appid "" until then, see app.models.Identity).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 09:00:00.000000

"""
import secrets

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('identities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('provider', sa.String(length=16), nullable=False),
    sa.Column('appid', sa.String(length=64), nullable=False),
    sa.Column('openid', sa.String(length=64), nullable=False),
    sa.Column('unionid', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_identities_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identities')),
    sa.UniqueConstraint('provider', 'appid', 'openid', name='uq_identities_provider_appid_openid')
    )
    with op.batch_alter_table('identities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_identities_user_id'), ['user_id'], unique=False)

    op.create_table('access_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('value', sa.String(length=64), nullable=False),
    sa.Column('group', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_access_entries')),
    sa.UniqueConstraint('kind', 'value', 'group', name='uq_access_entries_kind_value_group')
    )
    with op.batch_alter_table('access_entries', schema=None) as batch_op:
        batch_op.create_index('ix_access_entries_value', ['value'], unique=False)

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('public_id', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('phone', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('phone_verified_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('blocked_at', sa.DateTime(), nullable=True))

    _move_openids_to_identities()

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('public_id', existing_type=sa.String(length=32), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_users_public_id'), ['public_id'])
        batch_op.create_unique_constraint(batch_op.f('uq_users_unionid'), ['unionid'])
        batch_op.create_index(batch_op.f('ix_users_phone'), ['phone'], unique=False)
        batch_op.drop_constraint('uq_users_openid', type_='unique')
        batch_op.drop_column('openid')


def _move_openids_to_identities():
    conn = op.get_bind()
    users = sa.table('users', sa.column('id', sa.Integer), sa.column('openid', sa.String),
                     sa.column('unionid', sa.String), sa.column('public_id', sa.String),
                     sa.column('created_at', sa.DateTime))
    identities = sa.table('identities', sa.column('user_id', sa.Integer), sa.column('provider', sa.String),
                          sa.column('appid', sa.String), sa.column('openid', sa.String),
                          sa.column('unionid', sa.String), sa.column('created_at', sa.DateTime))
    rows = conn.execute(sa.select(users.c.id, users.c.openid, users.c.unionid, users.c.created_at)
                        .order_by(users.c.id)).all()
    seen_unionids = set()
    for user_id, openid, unionid, created_at in rows:
        values = {"public_id": "u_" + secrets.token_urlsafe(15)}
        # One person, one unionid: should two old rows share one, the older keeps it
        # on the user (both identities still record it).
        if unionid and unionid in seen_unionids:
            values["unionid"] = None
        seen_unionids.add(unionid)
        conn.execute(sa.update(users).where(users.c.id == user_id).values(**values))
        conn.execute(sa.insert(identities).values(
            user_id=user_id, provider="dev" if openid.startswith("dev:") else "wechat_mp",
            appid="", openid=openid, unionid=unionid, created_at=created_at,
        ))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('openid', sa.String(length=64), nullable=True))
    conn = op.get_bind()
    # Each user's first identity becomes their openid again.
    conn.execute(sa.text(
        "UPDATE users SET openid = (SELECT i.openid FROM identities i WHERE i.user_id = users.id "
        "ORDER BY i.id LIMIT 1)"
    ))
    conn.execute(sa.text("UPDATE users SET openid = 'dev:user-' || id WHERE openid IS NULL"))
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('openid', existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint('uq_users_openid', ['openid'])
        batch_op.drop_index(batch_op.f('ix_users_phone'))
        batch_op.drop_constraint(batch_op.f('uq_users_unionid'), type_='unique')
        batch_op.drop_constraint(batch_op.f('uq_users_public_id'), type_='unique')
        batch_op.drop_column('blocked_at')
        batch_op.drop_column('phone_verified_at')
        batch_op.drop_column('phone')
        batch_op.drop_column('public_id')
    with op.batch_alter_table('access_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_access_entries_value')
    op.drop_table('access_entries')
    with op.batch_alter_table('identities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_identities_user_id'))
    op.drop_table('identities')
