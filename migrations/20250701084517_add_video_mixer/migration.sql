-- CreateTable
CREATE TABLE "video_mixer_projects" (
    "id" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "video_mixer_projects_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "video_mixer_groups" (
    "id" TEXT NOT NULL,
    "projectId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "order" INTEGER NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "video_mixer_groups_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "video_mixer_videos" (
    "id" TEXT NOT NULL,
    "projectId" TEXT NOT NULL,
    "groupId" TEXT,
    "fileName" TEXT NOT NULL,
    "filePath" TEXT NOT NULL,
    "fileSize" INTEGER NOT NULL,
    "duration" DOUBLE PRECISION NOT NULL,
    "mimeType" TEXT NOT NULL,
    "order" INTEGER NOT NULL DEFAULT 0,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "video_mixer_videos_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "video_mixer_generations" (
    "id" TEXT NOT NULL,
    "projectId" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "totalVideos" INTEGER NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "creditUsed" INTEGER NOT NULL,
    "enableOrderMixing" BOOLEAN NOT NULL DEFAULT true,
    "enableDifferentStart" BOOLEAN NOT NULL DEFAULT false,
    "enableGroupMixing" BOOLEAN NOT NULL DEFAULT false,
    "groupMixingMode" TEXT NOT NULL DEFAULT 'random',
    "enableSpeedVariations" BOOLEAN NOT NULL DEFAULT false,
    "speedMin" DOUBLE PRECISION NOT NULL DEFAULT 0.5,
    "speedMax" DOUBLE PRECISION NOT NULL DEFAULT 2.0,
    "videoResolution" TEXT NOT NULL DEFAULT '720p',
    "frameRate" INTEGER NOT NULL DEFAULT 30,
    "aspectRatio" TEXT NOT NULL DEFAULT '9:16',
    "durationType" TEXT NOT NULL DEFAULT 'original',
    "fixedDuration" INTEGER,
    "outputPaths" TEXT,
    "errorMessage" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "completedAt" TIMESTAMP(3),

    CONSTRAINT "video_mixer_generations_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "video_mixer_projects_userId_idx" ON "video_mixer_projects"("userId");

-- CreateIndex
CREATE INDEX "video_mixer_groups_projectId_idx" ON "video_mixer_groups"("projectId");

-- CreateIndex
CREATE INDEX "video_mixer_videos_projectId_idx" ON "video_mixer_videos"("projectId");

-- CreateIndex
CREATE INDEX "video_mixer_videos_groupId_idx" ON "video_mixer_videos"("groupId");

-- CreateIndex
CREATE INDEX "video_mixer_generations_projectId_idx" ON "video_mixer_generations"("projectId");

-- CreateIndex
CREATE INDEX "video_mixer_generations_userId_idx" ON "video_mixer_generations"("userId");

-- CreateIndex
CREATE INDEX "video_mixer_generations_status_idx" ON "video_mixer_generations"("status");

-- AddForeignKey
ALTER TABLE "video_mixer_projects" ADD CONSTRAINT "video_mixer_projects_userId_fkey" FOREIGN KEY ("userId") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "video_mixer_groups" ADD CONSTRAINT "video_mixer_groups_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "video_mixer_projects"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "video_mixer_videos" ADD CONSTRAINT "video_mixer_videos_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "video_mixer_projects"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "video_mixer_videos" ADD CONSTRAINT "video_mixer_videos_groupId_fkey" FOREIGN KEY ("groupId") REFERENCES "video_mixer_groups"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "video_mixer_generations" ADD CONSTRAINT "video_mixer_generations_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "video_mixer_projects"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "video_mixer_generations" ADD CONSTRAINT "video_mixer_generations_userId_fkey" FOREIGN KEY ("userId") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;
