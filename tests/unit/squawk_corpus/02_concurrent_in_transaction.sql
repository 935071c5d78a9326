BEGIN;
CREATE INDEX CONCURRENTLY IF NOT EXISTS "payments_status_idx" ON "payments" ("status");
COMMIT;
