"""Prisma's side: the migrations folder, checksums, the history table, status and resolve."""
