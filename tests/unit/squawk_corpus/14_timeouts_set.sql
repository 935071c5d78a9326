SET lock_timeout = '2s';
SET statement_timeout = '30s';
ALTER TABLE "orders" ADD COLUMN IF NOT EXISTS "ref" TEXT;
CREATE INDEX IF NOT EXISTS "orders_ref_idx" ON "orders" ("ref");
