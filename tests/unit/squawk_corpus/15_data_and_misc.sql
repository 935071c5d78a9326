UPDATE "orders" SET "status" = 'open' WHERE "status" IS NULL;
TRUNCATE "carts" CASCADE;
ALTER TABLE "orders" ALTER COLUMN "status" SET DEFAULT 'open';
CREATE TRIGGER "orders_touch" BEFORE UPDATE ON "orders" FOR EACH ROW EXECUTE FUNCTION touch();
