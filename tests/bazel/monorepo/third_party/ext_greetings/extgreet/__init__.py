"""A package of an external repository."""

SALUTATION = "Hello"
