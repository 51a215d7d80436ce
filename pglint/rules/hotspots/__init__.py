"""PGL1xx: hot spots and contention: hot rows, right-growing indexes, sequences, fillfactor,
advisory locks."""
