"""Imported from the repository root: `from lib.util import fmt`."""


def exclaim(text: str) -> str:
    return f"{text}!"
