from alembic import op

revision = "0001"
down_revision = None


def upgrade():
    op.execute("SET LOCAL lock_timeout = '5s'")  # the project migrates a live database
    op.execute("CREATE TABLE orders (id bigint primary key)")
