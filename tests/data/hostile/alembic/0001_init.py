from alembic import op

revision = "0001"
down_revision = None


def upgrade():
    op.execute("CREATE TABLE orders (id bigint primary key)")
