-- Add variationKey to generated_poses
-- Identifies which (pose, variation) slot an output fills, so a retried
-- job can skip variations that already completed.

-- AlterTable
ALTER TABLE "generated_poses" ADD COLUMN IF NOT EXISTS "variationKey" TEXT;

-- CreateIndex
CREATE INDEX IF NOT EXISTS "generated_poses_generationId_variationKey_idx" ON "generated_poses"("generationId", "variationKey");
