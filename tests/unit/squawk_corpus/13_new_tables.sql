-- A table created in this migration: building indexes on it blocks nobody.
CREATE TABLE IF NOT EXISTS "coupons" (
    "id" TEXT NOT NULL,
    "customerId" TEXT NOT NULL REFERENCES "customers"("id"),
    "code" TEXT NOT NULL,
    CONSTRAINT "coupons_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX IF NOT EXISTS "coupons_code_key" ON "coupons" ("code");
ALTER TABLE "coupons" ADD COLUMN IF NOT EXISTS "amount" INTEGER NOT NULL;
ALTER TABLE "coupons" ADD CONSTRAINT "coupons_customer_fkey" FOREIGN KEY ("customerId") REFERENCES "customers"("id");
