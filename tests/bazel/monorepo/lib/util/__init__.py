"""Formatting helpers (package lib.util)."""
