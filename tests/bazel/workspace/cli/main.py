import sys

from wit_world import exports


class Run(exports.Run):
    def run(self) -> None:
        print("Hello from Bazel's wasi:cli/command component!")
        print(f"argv: {sys.argv[1:]}")
