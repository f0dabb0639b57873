"""A Python mock of monorepo:logged/logger: keeps the lines, counts them."""

from wit_world import exports

LINES: list[str] = []


class Logger(exports.Logger):
    def log(self, line: str) -> int:
        LINES.append(line)
        return len(LINES)
