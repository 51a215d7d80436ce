from alembic import op

def upgrade():
    op.execute('ALTER TABLE orders ADD COLUMN a1 text')
    op.execute('ALTER TABLE orders ' 'ADD COLUMN a2 text')
    op.execute("UPDATE visit_counters SET count = count + 1 WHERE page_id = '\ud83d\ude00'")
    op.execute("SELECT '\u202e\x1b[2J'")
    op.execute(f"UPDATE {t} SET n = n + 1 WHERE id = 1")
