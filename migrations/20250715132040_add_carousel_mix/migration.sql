-- CreateTable
CREATE TABLE "carousel_projects" (
    "id" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT,
    "defaultNumSlides" INTEGER NOT NULL DEFAULT 4,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "carousel_projects_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "carousel_slides" (
    "id" TEXT NOT NULL,
    "projectId" TEXT NOT NULL,
    "slidePosition" INTEGER NOT NULL,
    "fileName" TEXT NOT NULL,
    "filePath" TEXT NOT NULL,
    "fileType" TEXT NOT NULL,
    "fileSize" INTEGER NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "carousel_slides_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "carousel_texts" (
    "id" TEXT NOT NULL,
    "projectId" TEXT NOT NULL,
    "slidePosition" INTEGER NOT NULL,
    "content" TEXT NOT NULL,
    "fontFamily" TEXT NOT NULL DEFAULT 'Inter',
    "fontSize" INTEGER NOT NULL DEFAULT 32,
    "fontColor" TEXT NOT NULL DEFAULT '#FFFFFF',
    "position" TEXT NOT NULL DEFAULT 'center',
    "alignment" TEXT NOT NULL DEFAULT 'center',
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "carousel_texts_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "carousel_generations" (
    "id" TEXT NOT NULL,
    "projectId" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "numSlides" INTEGER NOT NULL,
    "numSetsGenerated" INTEGER NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "creditUsed" INTEGER NOT NULL,
    "outputPath" TEXT,
    "outputPaths" TEXT,
    "errorMessage" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "completedAt" TIMESTAMP(3),

    CONSTRAINT "carousel_generations_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "carousel_projects_userId_idx" ON "carousel_projects"("userId");

-- CreateIndex
CREATE INDEX "carousel_slides_projectId_idx" ON "carousel_slides"("projectId");

-- CreateIndex
CREATE INDEX "carousel_texts_projectId_idx" ON "carousel_texts"("projectId");

-- CreateIndex
CREATE INDEX "carousel_generations_projectId_idx" ON "carousel_generations"("projectId");

-- CreateIndex
CREATE INDEX "carousel_generations_userId_idx" ON "carousel_generations"("userId");

-- AddForeignKey
ALTER TABLE "carousel_projects" ADD CONSTRAINT "carousel_projects_userId_fkey" FOREIGN KEY ("userId") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "carousel_slides" ADD CONSTRAINT "carousel_slides_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "carousel_projects"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "carousel_texts" ADD CONSTRAINT "carousel_texts_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "carousel_projects"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "carousel_generations" ADD CONSTRAINT "carousel_generations_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "carousel_projects"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "carousel_generations" ADD CONSTRAINT "carousel_generations_userId_fkey" FOREIGN KEY ("userId") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;
