"""pglint's rules, one module per rule, in one package per family (see README.md here)."""
