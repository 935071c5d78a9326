-- CreateTable
CREATE TABLE "avatar_generations" (
    "id" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "prompt" TEXT NOT NULL,
    "inputImageUrl" TEXT,
    "outputUrl" TEXT,
    "thumbnailUrl" TEXT,
    "gender" TEXT,
    "ageRange" TEXT,
    "style" TEXT,
    "creditUsed" INTEGER NOT NULL DEFAULT 0,
    "errorMessage" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "completedAt" TIMESTAMP(3),

    CONSTRAINT "avatar_generations_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "avatar_generations_userId_idx" ON "avatar_generations"("userId");

-- CreateIndex
CREATE INDEX "avatar_generations_status_idx" ON "avatar_generations"("status");

-- AddForeignKey
ALTER TABLE "avatar_generations" ADD CONSTRAINT "avatar_generations_userId_fkey" FOREIGN KEY ("userId") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;
