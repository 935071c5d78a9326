"""The safety analysis behind `lumiku_tui.safety.lint`: live catalog facts, the simulated schema, the rules."""
