"""Generate the big apps of scripts/bench.sh into a folder.

    python3 generate.py modules DIR [N]    app.py importing N modules (default
                                           1000) of about 40 lines each, one
                                           export `run(string) -> string`
    python3 generate.py functions DIR [N]  a world with N exported functions `call<i>`
                                           (default 1000), all in one class

The output depends only on the arguments.
"""

import os
import sys

MODULE = '''"""Module {i} of a generated app."""

import json
from dataclasses import dataclass


@dataclass
class Item{i}:
    name: str
    count: int = 0

    def bump(self, by=1):
        self.count += by
        return self.count


TABLE_{i} = {{"a": {i}, "b": {i} * 2, "c": [{i}, {i} + 1, {i} + 2]}}


def describe_{i}(value):
    if isinstance(value, int):
        return f"int {{value}}"
    if isinstance(value, str):
        return f"str {{value!r}}"
    return json.dumps(value)


def total_{i}(items):
    result = 0
    for item in items:
        result += item.count
    return result


class Helper{i}:
    def __init__(self):
        self.items = [Item{i}(str(n), n) for n in range(3)]

    def run(self, text):
        return describe_{i}(text) + str(total_{i}(self.items))
'''


def modules(folder, n):
    pkg = os.path.join(folder, "mods")
    os.makedirs(pkg, exist_ok=True)
    with open(os.path.join(pkg, "__init__.py"), "w") as f:
        f.write("")
    for i in range(n):
        with open(os.path.join(pkg, f"m{i:04}.py"), "w") as f:
            f.write(MODULE.format(i=i))
    with open(os.path.join(folder, "app.py"), "w") as f:
        for i in range(n):
            f.write(f"import mods.m{i:04}\n")
        f.write("\n\nclass WitWorld:\n    def run(self, text):\n")
        f.write(f"        return mods.m{n - 1:04}.Helper{n - 1}().run(text)\n")
    with open(os.path.join(folder, "big.wit"), "w") as f:
        f.write("package bench:big;\n\nworld big {\n  export run: func(text: string) -> string;\n}\n")


def functions(folder, n):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "big.wit"), "w") as f:
        f.write("package bench:big;\n\nworld big {\n")
        for i in range(n):
            # `call{i}`: `f32` and `f64` would be WIT keywords.
            f.write(f"  export call{i}: func(x: u32, s: string) -> string;\n")
        f.write("}\n")
    with open(os.path.join(folder, "app.py"), "w") as f:
        f.write("class WitWorld:\n")
        for i in range(n):
            f.write(f"    def call{i}(self, x, s):\n        return s + str(x + {i})\n\n")


if __name__ == "__main__":
    kind, folder = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    {"modules": modules, "functions": functions}[kind](folder, n)
