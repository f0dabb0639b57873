import asyncio

import wit_world


class WitWorld(wit_world.WitWorld):
    async def greet(self, name: str) -> str:
        # A real suspension: the task yields to the component's event loop
        # once before it returns.
        await asyncio.sleep(0)
        return f"Hello, {name}, eventually!"
