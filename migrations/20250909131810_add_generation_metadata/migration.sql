-- AlterTable
ALTER TABLE "generations" ADD COLUMN     "fileSize" INTEGER,
ADD COLUMN     "metadata" JSONB,
ADD COLUMN     "thumbnailUrl" TEXT;

-- AlterTable
ALTER TABLE "avatar_generations" ADD COLUMN     "seedUsed" INTEGER;

-- CreateIndex
CREATE INDEX "generations_appId_idx" ON "generations"("appId");

-- CreateIndex
CREATE INDEX "generations_createdAt_idx" ON "generations"("createdAt");
