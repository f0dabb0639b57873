from lib.greeting import greet as greeting
from wit_world.imports import logger

import wit_world


class WitWorld(wit_world.WitWorld):
    def greet(self, name: str) -> str:
        text = greeting(name)
        line = logger.log(text)
        return f"{text} (log line {line})"
