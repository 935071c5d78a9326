-- AlterTable
ALTER TABLE "credits" ADD COLUMN     "expiresAt" TIMESTAMP(3);

-- AlterTable
ALTER TABLE "payments" ADD COLUMN     "expiredAt" TIMESTAMP(3),
ADD COLUMN     "paidAt" TIMESTAMP(3);

-- CreateIndex
CREATE INDEX "credits_expiresAt_idx" ON "credits"("expiresAt");

-- CreateIndex
CREATE INDEX "credits_type_idx" ON "credits"("type");
