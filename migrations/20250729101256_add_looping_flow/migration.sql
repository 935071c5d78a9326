-- CreateTable
CREATE TABLE "looping_flow_projects" (
    "id" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "looping_flow_projects_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "looping_flow_videos" (
    "id" TEXT NOT NULL,
    "projectId" TEXT NOT NULL,
    "fileName" TEXT NOT NULL,
    "filePath" TEXT NOT NULL,
    "fileSize" INTEGER NOT NULL,
    "duration" DOUBLE PRECISION NOT NULL,
    "mimeType" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "looping_flow_videos_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "looping_flow_generations" (
    "id" TEXT NOT NULL,
    "projectId" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "videoId" TEXT NOT NULL,
    "targetDuration" INTEGER NOT NULL,
    "crossfadeDuration" DOUBLE PRECISION NOT NULL DEFAULT 1.0,
    "creditUsed" INTEGER NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "outputPath" TEXT,
    "errorMessage" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "completedAt" TIMESTAMP(3),

    CONSTRAINT "looping_flow_generations_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "looping_flow_projects_userId_idx" ON "looping_flow_projects"("userId");

-- CreateIndex
CREATE INDEX "looping_flow_videos_projectId_idx" ON "looping_flow_videos"("projectId");

-- CreateIndex
CREATE INDEX "looping_flow_generations_projectId_idx" ON "looping_flow_generations"("projectId");

-- CreateIndex
CREATE INDEX "looping_flow_generations_userId_idx" ON "looping_flow_generations"("userId");

-- CreateIndex
CREATE INDEX "looping_flow_generations_status_idx" ON "looping_flow_generations"("status");

-- AddForeignKey
ALTER TABLE "looping_flow_projects" ADD CONSTRAINT "looping_flow_projects_userId_fkey" FOREIGN KEY ("userId") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "looping_flow_videos" ADD CONSTRAINT "looping_flow_videos_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "looping_flow_projects"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "looping_flow_generations" ADD CONSTRAINT "looping_flow_generations_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "looping_flow_projects"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "looping_flow_generations" ADD CONSTRAINT "looping_flow_generations_userId_fkey" FOREIGN KEY ("userId") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "looping_flow_generations" ADD CONSTRAINT "looping_flow_generations_videoId_fkey" FOREIGN KEY ("videoId") REFERENCES "looping_flow_videos"("id") ON DELETE CASCADE ON UPDATE CASCADE;
