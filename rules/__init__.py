"""pglint's rules, one module per rule. Installed as `pglint.rules`."""
