"""The safety analysis behind `lumiku_tui.lint`: live catalog facts, the simulated schema, the rules."""
