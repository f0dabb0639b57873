import os

import wit_world
from lib.dates import add_months
from lib.greeting import greet


class WitWorld(wit_world.WitWorld):
    def greet(self, name: str) -> str:
        return greet(name)

    def add_months(self, day: str, months: int) -> str:
        return add_months(day, months)

    def greet_file(self, path: str) -> str:
        prefix = os.environ.get("GREETER_PREFIX", "")
        with open(path, encoding="utf-8") as names:
            return "\n".join(prefix + greet(name.strip()) for name in names if name.strip())
