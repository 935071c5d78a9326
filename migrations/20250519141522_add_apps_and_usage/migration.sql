-- CreateTable
CREATE TABLE "apps" (
    "id" TEXT NOT NULL,
    "appId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT NOT NULL,
    "icon" TEXT NOT NULL,
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "beta" BOOLEAN NOT NULL DEFAULT false,
    "comingSoon" BOOLEAN NOT NULL DEFAULT false,
    "creditCost" INTEGER NOT NULL DEFAULT 1,
    "order" INTEGER NOT NULL DEFAULT 0,
    "totalUsage" INTEGER NOT NULL DEFAULT 0,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "apps_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "app_usages" (
    "id" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "appId" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "creditUsed" INTEGER NOT NULL,
    "metadata" JSONB,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "app_usages_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "apps_appId_key" ON "apps"("appId");

-- CreateIndex
CREATE INDEX "app_usages_userId_idx" ON "app_usages"("userId");

-- CreateIndex
CREATE INDEX "app_usages_appId_idx" ON "app_usages"("appId");

-- CreateIndex
CREATE INDEX "app_usages_createdAt_idx" ON "app_usages"("createdAt");

-- AddForeignKey
ALTER TABLE "app_usages" ADD CONSTRAINT "app_usages_userId_fkey" FOREIGN KEY ("userId") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "app_usages" ADD CONSTRAINT "app_usages_appId_fkey" FOREIGN KEY ("appId") REFERENCES "apps"("appId") ON DELETE CASCADE ON UPDATE CASCADE;
