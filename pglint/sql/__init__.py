"""The SQL front end: lexing, masking, parsing with pglast, PL/pgSQL bodies."""
