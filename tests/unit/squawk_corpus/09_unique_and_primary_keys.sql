ALTER TABLE "customers" ADD CONSTRAINT "customers_email_key" UNIQUE ("email");
ALTER TABLE "legacy" ADD CONSTRAINT "legacy_pkey" PRIMARY KEY ("id");
ALTER TABLE "customers" ADD CONSTRAINT "customers_code_key" UNIQUE USING INDEX "customers_code_idx";
