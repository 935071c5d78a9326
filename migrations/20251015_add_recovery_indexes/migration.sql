-- Recovery indexes
-- Speeds up the worker's startup recovery scan, which looks for generations
-- stuck in PENDING/PROCESSING and orders them by age.

-- CreateIndex
CREATE INDEX IF NOT EXISTS "generations_status_createdAt_idx" ON "generations"("status", "createdAt");

-- CreateIndex
CREATE INDEX IF NOT EXISTS "avatar_generations_status_createdAt_idx" ON "avatar_generations"("status", "createdAt");

-- CreateIndex
CREATE INDEX IF NOT EXISTS "pose_generations_status_createdAt_idx" ON "pose_generations"("status", "createdAt");

-- CreateIndex
CREATE INDEX IF NOT EXISTS "pose_generations_status_startedAt_idx" ON "pose_generations"("status", "startedAt");

-- CreateIndex
CREATE INDEX IF NOT EXISTS "background_removal_jobs_status_createdAt_idx" ON "background_removal_jobs"("status", "createdAt");
