"""Safety analysis of pending migrations: lint, measured catalog figures and the rules."""
