"""The rule kit: what several rules share, by topic. Rules import it; the engine never does.

- `upserts`: check-then-insert in SQL, unique keys, `ON CONFLICT` targets;
- `check_then_act`, `check_then_act_fixes`: the same in Python (Django, SQLAlchemy, raw SQL);
- `orm`: reading Django and SQLAlchemy code (chains, models, `F()`, origins);
- `retries`, `retry_shapes`: retry loops, tenacity and backoff, delays and jitter;
- `queues`: retry/work queue tables and their columns;
- `timeouts`, `connections`: timeout settings in SQL and in connection options;
- `python_edits`: small libcst edits for Python fixes.
"""
