"""What PGL305, PGL306 and PGL307 share about queue tables: the columns that mark one and how
the evidence reads in a message.

Not a rule (no Rule subclass).
"""

from __future__ import annotations

from pglint.model.project import Evidence

# Worker-lease columns: a table with one is a queue even without a queue-like name. A `status`
# column alone is not enough: every orders table has one, and inserting orders is no enqueue.
LEASE_COLUMNS = ("next_attempt_at", "locked_by")


def named(evidence: Evidence) -> str:
    """The evidence for a one-line message: why, and the first place it was seen."""
    return f"{evidence.reason}, {evidence.brief()}" if evidence.locations else evidence.reason
