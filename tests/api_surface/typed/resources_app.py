"""An app for tests/fixtures/resources in upstream componentize-py 0.25.1's
style (`with` blocks, classmethods, `Self`), fully annotated: `mypy
--strict` must accept it against our bindings (compiler/tests/api_surface.rs).
The exported resource's implementation is in resources_api.py's style: a
top-level module named after the interface."""

from typing import List

import wit_world
from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.api import Blob, Either, Either_Blob, Either_Text, Named
from wit_world.imports.host import Counter, consume, make, peek_all


class Api(exports.Api):
    def wrap(self, name: str, b: Blob) -> Named:
        return Named(name, b)

    def unwrap(self, n: Named) -> Blob:
        return n.blob

    def make_many(self, n: int) -> List[Blob]:
        return []

    def total_len(self, blobs: List[Blob]) -> int:
        return sum(len(b.read()) for b in blobs)

    def maybe(self, b: Blob | None) -> Blob:
        if b is None:
            raise Err("no blob")
        return b

    def describe(self, e: Either) -> str:
        if isinstance(e, Either_Blob):
            return f"blob of {len(e.value.read())}"
        assert isinstance(e, Either_Text)
        return e.value

    def live_blobs(self) -> int:
        return 0


class WitWorld(wit_world.WitWorld):
    def use_counters(self) -> int:
        with Counter(1) as a, make(2) as b:
            a.bump(3)
            merged: Counter = Counter.merge(a, b)
            return merged.get() + peek_all([a, b]) + consume(Counter(4))

    def use_gauges(self) -> int:
        g = wit_world.make_gauge(1)
        g.raise_(2)
        return wit_world.Gauge.combine(g, g).level()

    def read_gauge(self, g: wit_world.Gauge) -> int:
        return g.level()

    def take_gauge(self, g: wit_world.Gauge) -> int:
        return g.level()

    def inspect_via_host(self, c: Counter) -> int:
        return peek_all([c])

    def inspect(self, c: Counter) -> int:
        return c.get()

    def take(self, c: Counter) -> int:
        return consume(c)

    def keep(self, c: Counter) -> None:
        pass

    def release(self) -> None:
        pass

    def give(self, start: int) -> Counter:
        return Counter(start)
