"""An app for tests/fixtures/types written the way upstream componentize-py
0.25.1's documentation and examples write apps, fully annotated:
`mypy --strict` must accept it against our bindings
(compiler/tests/api_surface.rs)."""

from typing import List, Optional, Tuple

import wit_world
from componentize_py_types import Err, Ok, Result, Some
from wit_world import exports
from wit_world.exports.values import (
    Bag,
    Color,
    Perms,
    Point,
    Shape,
    Shape_Circle,
    Shape_Nothing,
    Shape_Square,
)
from wit_world.imports import host


class Values(exports.Values):
    def echo_bool(self, x: bool) -> bool:
        return x

    def echo_u8(self, x: int) -> int:
        return x

    def echo_u16(self, x: int) -> int:
        return x

    def echo_u32(self, x: int) -> int:
        return x

    def echo_u64(self, x: int) -> int:
        return x

    def echo_s8(self, x: int) -> int:
        return x

    def echo_s16(self, x: int) -> int:
        return x

    def echo_s32(self, x: int) -> int:
        return x

    def echo_s64(self, x: int) -> int:
        return x

    def echo_f32(self, x: float) -> float:
        return x

    def echo_f64(self, x: float) -> float:
        return x

    def echo_char(self, x: str) -> str:
        return x

    def echo_string(self, x: str) -> str:
        return x

    def echo_bytes(self, x: bytes) -> bytes:
        return x

    def echo_strings(self, x: List[str]) -> List[str]:
        return x

    def echo_points(self, x: List[Point]) -> List[Point]:
        return [Point(p.x, p.y) for p in x]

    def echo_tuple(self, x: Tuple[int, str, float]) -> Tuple[int, str, float]:
        return x

    def echo_option(self, x: Optional[str]) -> Optional[str]:
        return x

    def echo_nested(self, x: Optional[Some[Optional[int]]]) -> Optional[Some[Optional[int]]]:
        return None if x is None else Some(x.value)

    def echo_result(self, x: Result[int, str]) -> int:
        if isinstance(x, Ok):
            return x.value
        raise Err(x.value)

    def echo_results(self, x: List[Result[None, Color]]) -> List[Result[None, Color]]:
        return x

    def echo_variant(self, x: Shape) -> Shape:
        if isinstance(x, Shape_Circle):
            return Shape_Circle(x.value)
        if isinstance(x, Shape_Square):
            return Shape_Square(Point(x.value.x, x.value.y))
        return Shape_Nothing()

    def echo_enum(self, x: Color) -> Color:
        return Color(x.value)

    def echo_flags(self, x: Perms) -> Perms:
        return x | Perms.READ if x & Perms.READ else x

    def echo_bag(self, x: Bag) -> Bag:
        return Bag(x.name, x.tags, x.origin, x.color, x.perms, x.maybe)

    def bytes_len(self, x: bytes) -> int:
        return len(x)

    def divide(self, a: int, b: int) -> int:
        if b == 0:
            raise Err("division by zero")
        return a // b

    def check_name(self, name: str) -> None:
        if not name:
            raise Err(Color.RED)


class WitWorld(wit_world.WitWorld):
    def run_host(self, n: int) -> int:
        host.log(f"run {n}")
        try:
            fetched = host.fetch("key")
        except Err as e:
            fetched = str(e.value)
        return host.add(n, len(fetched))
