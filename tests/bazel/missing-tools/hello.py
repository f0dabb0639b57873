import wit_world


class WitWorld(wit_world.WitWorld):
    def hello(self) -> str:
        return "hi"
