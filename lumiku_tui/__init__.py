"""lumiku-tui: apply Prisma migrations to PostgreSQL, guided and recorded."""

__version__ = "0.1.0"
