ALTER TABLE orders
  ADD COLUMN c3 int;
