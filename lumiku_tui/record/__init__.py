"""The deployment's progress, checklist and written record."""
