ALTER TABLE "customers" RENAME COLUMN "name" TO "fullName";
ALTER TABLE "legacy" RENAME TO "archive";
