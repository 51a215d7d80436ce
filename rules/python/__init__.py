"""Rules that read Python application code only (no SQL form)."""
