-- CreateTable
CREATE TABLE "pose_generations" (
    "id" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "avatarImageUrl" TEXT,
    "prompt" TEXT,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "totalExpectedPoses" INTEGER NOT NULL,
    "posesCompleted" INTEGER NOT NULL DEFAULT 0,
    "posesFailed" INTEGER NOT NULL DEFAULT 0,
    "creditCharged" INTEGER NOT NULL DEFAULT 0,
    "creditRefunded" INTEGER NOT NULL DEFAULT 0,
    "errorMessage" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "startedAt" TIMESTAMP(3),
    "completedAt" TIMESTAMP(3),

    CONSTRAINT "pose_generations_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "generated_poses" (
    "id" TEXT NOT NULL,
    "generationId" TEXT NOT NULL,
    "outputImageUrl" TEXT NOT NULL,
    "thumbnailUrl" TEXT,
    "originalImageUrl" TEXT,
    "promptUsed" TEXT NOT NULL,
    "seedUsed" INTEGER,
    "status" TEXT NOT NULL DEFAULT 'completed',
    "isFavorite" BOOLEAN NOT NULL DEFAULT false,
    "downloadCount" INTEGER NOT NULL DEFAULT 0,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "generated_poses_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "pose_generations_userId_idx" ON "pose_generations"("userId");

-- CreateIndex
CREATE INDEX "pose_generations_status_idx" ON "pose_generations"("status");

-- CreateIndex
CREATE INDEX "generated_poses_generationId_idx" ON "generated_poses"("generationId");

-- AddForeignKey
ALTER TABLE "pose_generations" ADD CONSTRAINT "pose_generations_userId_fkey" FOREIGN KEY ("userId") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "generated_poses" ADD CONSTRAINT "generated_poses_generationId_fkey" FOREIGN KEY ("generationId") REFERENCES "pose_generations"("id") ON DELETE CASCADE ON UPDATE CASCADE;
