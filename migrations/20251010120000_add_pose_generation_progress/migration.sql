-- AlterTable
ALTER TABLE "pose_generations" ADD COLUMN     "progress" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "queueJobId" TEXT;

-- AlterTable
ALTER TABLE "generated_poses" ADD COLUMN     "errorMessage" TEXT,
ADD COLUMN     "retryCount" INTEGER NOT NULL DEFAULT 0;

-- CreateIndex
CREATE UNIQUE INDEX "pose_generations_queueJobId_key" ON "pose_generations"("queueJobId");
