"""Rules that read SQL (migrations, query files, PL/pgSQL bodies, SQL strings in Python),
and the Python forms of the same codes."""
