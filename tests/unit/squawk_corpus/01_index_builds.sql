-- Index builds and drops on an existing table.
CREATE INDEX "orders_customer_idx" ON "orders" ("customerId");
CREATE UNIQUE INDEX IF NOT EXISTS "orders_number_key" ON "orders" ("number");
CREATE INDEX CONCURRENTLY IF NOT EXISTS "orders_created_idx" ON "orders" ("createdAt");
DROP INDEX "orders_old_idx";
DROP INDEX CONCURRENTLY IF EXISTS "orders_older_idx";
