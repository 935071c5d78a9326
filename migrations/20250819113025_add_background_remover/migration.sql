-- CreateTable
CREATE TABLE "background_removal_batches" (
    "id" TEXT NOT NULL,
    "batchId" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "tier" TEXT NOT NULL,
    "totalImages" INTEGER NOT NULL,
    "processedImages" INTEGER NOT NULL DEFAULT 0,
    "failedImages" INTEGER NOT NULL DEFAULT 0,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "totalCredits" INTEGER NOT NULL,
    "discountPercentage" INTEGER NOT NULL DEFAULT 0,
    "zipUrl" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "completedAt" TIMESTAMP(3),

    CONSTRAINT "background_removal_batches_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "background_removal_jobs" (
    "id" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "batchId" TEXT,
    "tier" TEXT NOT NULL,
    "originalUrl" TEXT NOT NULL,
    "processedUrl" TEXT,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "creditsUsed" INTEGER NOT NULL,
    "processingTimeMs" INTEGER,
    "aiProvider" TEXT,
    "modelName" TEXT,
    "errorMessage" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "completedAt" TIMESTAMP(3),

    CONSTRAINT "background_removal_jobs_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "background_removal_batches_batchId_key" ON "background_removal_batches"("batchId");

-- CreateIndex
CREATE INDEX "background_removal_batches_userId_idx" ON "background_removal_batches"("userId");

-- CreateIndex
CREATE INDEX "background_removal_batches_status_idx" ON "background_removal_batches"("status");

-- CreateIndex
CREATE INDEX "background_removal_jobs_userId_idx" ON "background_removal_jobs"("userId");

-- CreateIndex
CREATE INDEX "background_removal_jobs_batchId_idx" ON "background_removal_jobs"("batchId");

-- CreateIndex
CREATE INDEX "background_removal_jobs_status_idx" ON "background_removal_jobs"("status");

-- AddForeignKey
ALTER TABLE "background_removal_batches" ADD CONSTRAINT "background_removal_batches_userId_fkey" FOREIGN KEY ("userId") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "background_removal_jobs" ADD CONSTRAINT "background_removal_jobs_userId_fkey" FOREIGN KEY ("userId") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "background_removal_jobs" ADD CONSTRAINT "background_removal_jobs_batchId_fkey" FOREIGN KEY ("batchId") REFERENCES "background_removal_batches"("batchId") ON DELETE SET NULL ON UPDATE CASCADE;
