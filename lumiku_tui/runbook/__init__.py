"""The app's runbook (lumiku.toml): its prechecks, checks and checklist, how its checks are kept read-only, and the starter `init` writes."""
