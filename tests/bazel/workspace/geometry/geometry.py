import wit_world


class WitWorld(wit_world.WitWorld):
    def manhattan(self, p) -> int:
        return abs(p.x) + abs(p.y)

    def midpoint(self, a, b):
        return type(a)(x=(a.x + b.x) // 2, y=(a.y + b.y) // 2)
