ALTER TABLE {{ table }} ADD COLUMN ${col} int;
CREATE INDEX ON :"schema".orders (id);
UPDATE %(tbl)s SET n = n + 1 WHERE id = {id};
ALTER TABLE orders ADD COLUMN note2 text;
