"""The lib package: its own __init__.py, like lib/util."""
