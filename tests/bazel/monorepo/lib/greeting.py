"""Repo-root imports, an `imports = ["src"]` library and an external repository."""

import extgreet
import shout
from lib.util import fmt


def greet(name: str) -> str:
    return fmt.exclaim(f"{extgreet.SALUTATION}, {shout.shout(name)}")
