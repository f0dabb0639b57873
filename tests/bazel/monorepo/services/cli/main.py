import sys

from lib.greeting import greet
from wit_world import exports


class Run(exports.Run):
    def run(self) -> None:
        for name in sys.argv[1:]:
            print(greet(name))
