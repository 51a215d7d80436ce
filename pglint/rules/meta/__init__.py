"""Findings about pglint's input itself: syntax errors and unused suppressions."""
