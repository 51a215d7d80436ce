"""PGL5xx: migration lock safety: the lock each schema change takes, on tables that exist."""
