"""Rules that read SQL: migrations, query files and PL/pgSQL bodies."""
