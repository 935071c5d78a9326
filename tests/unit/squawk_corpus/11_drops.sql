ALTER TABLE "customers" DROP COLUMN "fax";
DROP TABLE "sessions";
DROP TABLE IF EXISTS "old_sessions";
