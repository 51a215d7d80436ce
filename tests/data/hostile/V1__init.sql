-- The project migrates a live database: its migrations bound their lock waits.
SET lock_timeout = '5s';
CREATE TABLE orders (id bigint PRIMARY KEY);
