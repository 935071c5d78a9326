"""Verification: what the applied migrations should have built, found or missing in the live catalog."""
