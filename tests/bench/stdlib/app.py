"""Benchmark app: imports a good part of the standard library."""

import collections
import dataclasses
import datetime
import decimal
import itertools
import json
import re
import typing

import wit_world

WORD = re.compile(r"[A-Za-z]+")


@dataclasses.dataclass
class Summary:
    words: int
    top: typing.List[typing.Tuple[str, int]]
    total: str
    day: str


class WitWorld(wit_world.WitWorld):
    def summarise(self, input: str) -> str:
        try:
            data = json.loads(input)
        except json.JSONDecodeError:
            data = {"text": input, "amounts": []}
        if not isinstance(data, dict):
            data = {"text": str(data), "amounts": []}
        counts = collections.Counter(w.lower() for w in WORD.findall(str(data.get("text", ""))))
        amounts = [decimal.Decimal(str(a)) for a in data.get("amounts", [])]
        total = sum(amounts, decimal.Decimal(0))
        pairs = list(itertools.islice(counts.most_common(), 3))
        day = datetime.date(2024, 1, 1) + datetime.timedelta(days=len(pairs))
        summary = Summary(sum(counts.values()), pairs, str(total), day.isoformat())
        return json.dumps(dataclasses.asdict(summary))
