"""The deployment session, its checklist, the story its journal tells, and the written record."""
