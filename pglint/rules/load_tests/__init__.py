"""PGL4xx: load-test realism."""
