import wit_world
from lib.greeting import greet


class WitWorld(wit_world.WitWorld):
    def greet(self, name: str) -> str:
        return greet(name)
