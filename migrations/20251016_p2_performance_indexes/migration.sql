-- P2 performance indexes
-- Composite indexes for the dashboard, credit history and pose gallery queries.

-- CreateIndex
CREATE INDEX IF NOT EXISTS "users_accountType_subscriptionTier_idx" ON "users"("accountType", "subscriptionTier");

-- CreateIndex
CREATE INDEX IF NOT EXISTS "users_unlimitedPoseActive_unlimitedPoseExpiresAt_idx" ON "users"("unlimitedPoseActive", "unlimitedPoseExpiresAt");

-- CreateIndex
CREATE INDEX IF NOT EXISTS "credits_userId_createdAt_idx" ON "credits"("userId", "createdAt");

-- CreateIndex
CREATE INDEX IF NOT EXISTS "credits_userId_type_createdAt_idx" ON "credits"("userId", "type", "createdAt");

-- CreateIndex
CREATE INDEX IF NOT EXISTS "generations_userId_appId_createdAt_idx" ON "generations"("userId", "appId", "createdAt");

-- CreateIndex
CREATE INDEX IF NOT EXISTS "generations_projectId_status_idx" ON "generations"("projectId", "status");

-- CreateIndex
CREATE INDEX IF NOT EXISTS "app_usages_userId_createdAt_idx" ON "app_usages"("userId", "createdAt");

-- CreateIndex
CREATE INDEX IF NOT EXISTS "pose_generations_userId_status_createdAt_idx" ON "pose_generations"("userId", "status", "createdAt");

-- CreateIndex
CREATE INDEX IF NOT EXISTS "generated_poses_generationId_status_idx" ON "generated_poses"("generationId", "status");

-- CreateIndex
CREATE INDEX IF NOT EXISTS "pose_library_categoryId_isPublic_popularityScore_idx" ON "pose_library"("categoryId", "isPublic", "popularityScore");

-- CreateIndex
CREATE INDEX IF NOT EXISTS "avatars_userId_lastUsedAt_idx" ON "avatars"("userId", "lastUsedAt");
