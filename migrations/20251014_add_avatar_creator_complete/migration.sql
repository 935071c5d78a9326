-- =============================================================================
-- Migration: Avatar Creator + Pose Generator (complete schema sync)
-- Date: 2025-10-14
--
-- Brings the database in line with schema.prisma for the Avatar Creator and
-- Pose Generator apps:
--   * Avatar Creator tables (projects, avatars, presets, persona examples,
--     usage history)
--   * Pose Generator tables (categories, library, projects, requests,
--     selections)
--   * avatar_generations."avatarId" / "projectId"
--   * pose_generations."generationType"
--   * users columns for the Pose Generator unlimited tier
--
-- Written to be safe to re-run: IF NOT EXISTS on tables, columns and indexes.
-- =============================================================================

BEGIN;

-- -----------------------------------------------------------------------------
-- AVATAR CREATOR
-- -----------------------------------------------------------------------------

-- CreateTable
CREATE TABLE IF NOT EXISTS "avatar_projects" (
    "id" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "avatar_projects_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE IF NOT EXISTS "avatars" (
    "id" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "projectId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "baseImageUrl" TEXT NOT NULL,
    "thumbnailUrl" TEXT,
    "personaName" TEXT,
    "personaAge" INTEGER,
    "personaPersonality" TEXT,
    "personaBackground" TEXT,
    "gender" TEXT,
    "ageRange" TEXT,
    "ethnicity" TEXT,
    "bodyType" TEXT,
    "hairStyle" TEXT,
    "hairColor" TEXT,
    "eyeColor" TEXT,
    "skinTone" TEXT,
    "style" TEXT,
    "sourceType" TEXT NOT NULL,
    "generationPrompt" TEXT,
    "seedUsed" INTEGER,
    "usageCount" INTEGER NOT NULL DEFAULT 0,
    "lastUsedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "avatars_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE IF NOT EXISTS "avatar_presets" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "previewImageUrl" TEXT NOT NULL,
    "category" TEXT NOT NULL,
    "personaTemplate" JSONB NOT NULL,
    "visualAttributes" JSONB NOT NULL,
    "generationPrompt" TEXT NOT NULL,
    "isPublic" BOOLEAN NOT NULL DEFAULT true,
    "usageCount" INTEGER NOT NULL DEFAULT 0,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "avatar_presets_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE IF NOT EXISTS "persona_examples" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "category" TEXT NOT NULL,
    "personaName" TEXT NOT NULL,
    "personaAge" INTEGER NOT NULL,
    "personaPersonality" TEXT NOT NULL,
    "personaBackground" TEXT NOT NULL,
    "suggestedAttributes" JSONB,
    "isActive" BOOLEAN NOT NULL DEFAULT true,
    "displayOrder" INTEGER NOT NULL DEFAULT 0,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "persona_examples_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE IF NOT EXISTS "avatar_usage_history" (
    "id" TEXT NOT NULL,
    "avatarId" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "appId" TEXT NOT NULL,
    "appName" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "referenceId" TEXT,
    "referenceType" TEXT,
    "metadata" JSONB,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "avatar_usage_history_pkey" PRIMARY KEY ("id")
);

-- -----------------------------------------------------------------------------
-- POSE GENERATOR
-- -----------------------------------------------------------------------------

-- CreateTable
CREATE TABLE IF NOT EXISTS "pose_categories" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "displayName" TEXT NOT NULL,
    "description" TEXT,
    "slug" TEXT NOT NULL,
    "parentId" TEXT,
    "icon" TEXT NOT NULL DEFAULT 'folder',
    "color" TEXT NOT NULL DEFAULT '#3b82f6',
    "displayOrder" INTEGER NOT NULL DEFAULT 0,
    "poseCount" INTEGER NOT NULL DEFAULT 0,
    "isActive" BOOLEAN NOT NULL DEFAULT true,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "pose_categories_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE IF NOT EXISTS "pose_library" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT,
    "categoryId" TEXT NOT NULL,
    "previewImageUrl" TEXT NOT NULL,
    "referenceImageUrl" TEXT NOT NULL,
    "controlNetImageUrl" TEXT NOT NULL,
    "thumbnailUrl" TEXT,
    "difficulty" TEXT NOT NULL DEFAULT 'medium',
    "genderSuitability" TEXT NOT NULL DEFAULT 'unisex',
    "tags" TEXT[],
    "sourceType" TEXT NOT NULL DEFAULT 'curated',
    "sourceCredit" TEXT,
    "licenseType" TEXT,
    "usageCount" INTEGER NOT NULL DEFAULT 0,
    "favoriteCount" INTEGER NOT NULL DEFAULT 0,
    "ratingAvg" DOUBLE PRECISION NOT NULL DEFAULT 0,
    "popularityScore" INTEGER NOT NULL DEFAULT 0,
    "isPublic" BOOLEAN NOT NULL DEFAULT true,
    "isFeatured" BOOLEAN NOT NULL DEFAULT false,
    "isPremium" BOOLEAN NOT NULL DEFAULT false,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "pose_library_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE IF NOT EXISTS "pose_generator_projects" (
    "id" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "projectName" TEXT NOT NULL,
    "description" TEXT,
    "avatarImageUrl" TEXT NOT NULL,
    "avatarSource" TEXT NOT NULL DEFAULT 'UPLOAD',
    "avatarId" TEXT,
    "status" TEXT NOT NULL DEFAULT 'active',
    "totalGenerations" INTEGER NOT NULL DEFAULT 0,
    "totalPosesGenerated" INTEGER NOT NULL DEFAULT 0,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "pose_generator_projects_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE IF NOT EXISTS "pose_requests" (
    "id" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "poseDescription" TEXT NOT NULL,
    "referenceImageUrl" TEXT,
    "categoryId" TEXT,
    "useCase" TEXT,
    "votesCount" INTEGER NOT NULL DEFAULT 0,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "adminNotes" TEXT,
    "completedPoseId" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "pose_requests_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE IF NOT EXISTS "pose_selections" (
    "id" TEXT NOT NULL,
    "generationId" TEXT NOT NULL,
    "poseLibraryId" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "pose_selections_pkey" PRIMARY KEY ("id")
);

-- -----------------------------------------------------------------------------
-- USERS: Pose Generator unlimited tier
-- -----------------------------------------------------------------------------

-- AlterTable
ALTER TABLE "users" ADD COLUMN IF NOT EXISTS "unlimitedPoseActive" BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE "users" ADD COLUMN IF NOT EXISTS "unlimitedPoseDailyQuota" INTEGER NOT NULL DEFAULT 100;
ALTER TABLE "users" ADD COLUMN IF NOT EXISTS "unlimitedPoseQuotaUsed" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "users" ADD COLUMN IF NOT EXISTS "unlimitedPoseQuotaResetAt" TIMESTAMP(3);
ALTER TABLE "users" ADD COLUMN IF NOT EXISTS "unlimitedPoseExpiresAt" TIMESTAMP(3);

-- -----------------------------------------------------------------------------
-- AVATAR_GENERATIONS: link generations to avatars and avatar projects
-- -----------------------------------------------------------------------------

-- AlterTable
ALTER TABLE "avatar_generations" ADD COLUMN IF NOT EXISTS "avatarId" TEXT;
ALTER TABLE "avatar_generations" ADD COLUMN IF NOT EXISTS "projectId" TEXT;

-- Backfill: every user with existing avatar generations gets one
-- "Imported Avatars" project, and their generations are attached to it.
INSERT INTO "avatar_projects" ("id", "userId", "name", "description", "createdAt", "updatedAt")
SELECT 'legacy_' || ag."userId",
       ag."userId",
       'Imported Avatars',
       'Avatars generated before Avatar Creator projects were introduced',
       MIN(ag."createdAt"),
       CURRENT_TIMESTAMP
FROM "avatar_generations" ag
WHERE ag."projectId" IS NULL
GROUP BY ag."userId"
ON CONFLICT ("id") DO NOTHING;

UPDATE "avatar_generations"
SET "projectId" = 'legacy_' || "userId"
WHERE "projectId" IS NULL;

ALTER TABLE "avatar_generations" ALTER COLUMN "projectId" SET NOT NULL;

-- -----------------------------------------------------------------------------
-- POSE_GENERATIONS: generation type
-- -----------------------------------------------------------------------------

-- AlterTable
ALTER TABLE "pose_generations" ADD COLUMN IF NOT EXISTS "generationType" TEXT NOT NULL DEFAULT 'GALLERY_REFERENCE';
ALTER TABLE "pose_generations" ADD COLUMN IF NOT EXISTS "textPrompt" TEXT;
ALTER TABLE "pose_generations" ADD COLUMN IF NOT EXISTS "batchSize" INTEGER NOT NULL DEFAULT 4;

-- -----------------------------------------------------------------------------
-- INDEXES
-- -----------------------------------------------------------------------------

-- CreateIndex
CREATE INDEX IF NOT EXISTS "avatar_projects_userId_idx" ON "avatar_projects"("userId");

-- CreateIndex
CREATE INDEX IF NOT EXISTS "avatars_userId_idx" ON "avatars"("userId");

-- CreateIndex
CREATE INDEX IF NOT EXISTS "avatars_projectId_idx" ON "avatars"("projectId");

-- CreateIndex
CREATE INDEX IF NOT EXISTS "avatars_sourceType_idx" ON "avatars"("sourceType");

-- CreateIndex
CREATE INDEX IF NOT EXISTS "avatar_presets_category_idx" ON "avatar_presets"("category");

-- CreateIndex
CREATE INDEX IF NOT EXISTS "avatar_presets_isPublic_idx" ON "avatar_presets"("isPublic");

-- CreateIndex
CREATE INDEX IF NOT EXISTS "persona_examples_category_idx" ON "persona_examples"("category");

-- CreateIndex
CREATE INDEX IF NOT EXISTS "persona_examples_isActive_idx" ON "persona_examples"("isActive");

-- CreateIndex
CREATE INDEX IF NOT EXISTS "avatar_usage_history_avatarId_idx" ON "avatar_usage_history"("avatarId");

-- CreateIndex
CREATE INDEX IF NOT EXISTS "avatar_usage_history_userId_idx" ON "avatar_usage_history"("userId");

-- CreateIndex
CREATE INDEX IF NOT EXISTS "avatar_usage_history_appId_idx" ON "avatar_usage_history"("appId");

-- CreateIndex
CREATE INDEX IF NOT EXISTS "avatar_generations_avatarId_idx" ON "avatar_generations"("avatarId");

-- CreateIndex
CREATE INDEX IF NOT EXISTS "avatar_generations_projectId_idx" ON "avatar_generations"("projectId");

-- CreateIndex
CREATE UNIQUE INDEX IF NOT EXISTS "pose_categories_name_key" ON "pose_categories"("name");

-- CreateIndex
CREATE UNIQUE INDEX IF NOT EXISTS "pose_categories_slug_key" ON "pose_categories"("slug");

-- CreateIndex
CREATE INDEX IF NOT EXISTS "pose_categories_parentId_idx" ON "pose_categories"("parentId");

-- CreateIndex
CREATE INDEX IF NOT EXISTS "pose_library_categoryId_idx" ON "pose_library"("categoryId");

-- CreateIndex
CREATE INDEX IF NOT EXISTS "pose_library_isPublic_isFeatured_idx" ON "pose_library"("isPublic", "isFeatured");

-- CreateIndex
CREATE INDEX IF NOT EXISTS "pose_generator_projects_userId_idx" ON "pose_generator_projects"("userId");

-- CreateIndex
CREATE INDEX IF NOT EXISTS "pose_generator_projects_avatarId_idx" ON "pose_generator_projects"("avatarId");

-- CreateIndex
CREATE INDEX IF NOT EXISTS "pose_requests_userId_idx" ON "pose_requests"("userId");

-- CreateIndex
CREATE INDEX IF NOT EXISTS "pose_requests_status_idx" ON "pose_requests"("status");

-- CreateIndex
CREATE INDEX IF NOT EXISTS "pose_selections_generationId_idx" ON "pose_selections"("generationId");

-- CreateIndex
CREATE UNIQUE INDEX IF NOT EXISTS "pose_selections_generationId_poseLibraryId_key" ON "pose_selections"("generationId", "poseLibraryId");

-- CreateIndex
CREATE INDEX IF NOT EXISTS "pose_generations_generationType_idx" ON "pose_generations"("generationType");

-- -----------------------------------------------------------------------------
-- FOREIGN KEYS
-- -----------------------------------------------------------------------------

-- AddForeignKey
ALTER TABLE "avatar_projects" ADD CONSTRAINT "avatar_projects_userId_fkey" FOREIGN KEY ("userId") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "avatars" ADD CONSTRAINT "avatars_userId_fkey" FOREIGN KEY ("userId") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "avatars" ADD CONSTRAINT "avatars_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "avatar_projects"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "avatar_usage_history" ADD CONSTRAINT "avatar_usage_history_avatarId_fkey" FOREIGN KEY ("avatarId") REFERENCES "avatars"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "avatar_usage_history" ADD CONSTRAINT "avatar_usage_history_userId_fkey" FOREIGN KEY ("userId") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "avatar_generations" ADD CONSTRAINT "avatar_generations_avatarId_fkey" FOREIGN KEY ("avatarId") REFERENCES "avatars"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "avatar_generations" ADD CONSTRAINT "avatar_generations_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "avatar_projects"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "pose_categories" ADD CONSTRAINT "pose_categories_parentId_fkey" FOREIGN KEY ("parentId") REFERENCES "pose_categories"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "pose_library" ADD CONSTRAINT "pose_library_categoryId_fkey" FOREIGN KEY ("categoryId") REFERENCES "pose_categories"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "pose_generator_projects" ADD CONSTRAINT "pose_generator_projects_userId_fkey" FOREIGN KEY ("userId") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "pose_generator_projects" ADD CONSTRAINT "pose_generator_projects_avatarId_fkey" FOREIGN KEY ("avatarId") REFERENCES "avatars"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "pose_requests" ADD CONSTRAINT "pose_requests_userId_fkey" FOREIGN KEY ("userId") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "pose_requests" ADD CONSTRAINT "pose_requests_categoryId_fkey" FOREIGN KEY ("categoryId") REFERENCES "pose_categories"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "pose_requests" ADD CONSTRAINT "pose_requests_completedPoseId_fkey" FOREIGN KEY ("completedPoseId") REFERENCES "pose_library"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "pose_selections" ADD CONSTRAINT "pose_selections_generationId_fkey" FOREIGN KEY ("generationId") REFERENCES "pose_generations"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "pose_selections" ADD CONSTRAINT "pose_selections_poseLibraryId_fkey" FOREIGN KEY ("poseLibraryId") REFERENCES "pose_library"("id") ON DELETE CASCADE ON UPDATE CASCADE;

COMMIT;
