import wit_world
from greeting import greeting


class WitWorld(wit_world.WitWorld):
    def greet(self, name: str) -> str:
        return greeting(name)
