"""Diagnosis: why a connection fails, why a migration failed, who holds Prisma's lock."""
