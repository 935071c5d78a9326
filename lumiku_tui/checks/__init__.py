"""Checks around a deploy: verification of the catalog, the app's health, diagnosis."""
