"""A page-visit counter that keeps its counts in the host's key-value store."""

from wit_world import exports
from wit_world.imports.store import Bucket, Error_QuotaExceeded, Error_InvalidKey
from componentize_py_types import Err

BUCKET = "visits"


class Counter(exports.Counter):
    def visit(self, page: str) -> int:
        with Bucket.open(BUCKET) as bucket:
            count = int.from_bytes(bucket.get(page) or b"", "big") + 1
            try:
                bucket.set(page, count.to_bytes(8, "big"))
            except Err as error:
                # The store's error becomes this export's `string` error.
                raise Err(describe(error.value)) from None
            return count

    def reset(self, page: str) -> bool:
        with Bucket.open(BUCKET) as bucket:
            return bucket.delete(page)

    def report(self) -> str:
        with Bucket.open(BUCKET) as bucket:
            counts = {key: int.from_bytes(bucket.get(key) or b"", "big") for key in bucket.keys()}
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        return "\n".join(f"{page}: {count}" for page, count in ranked)


def describe(error: object) -> str:
    if isinstance(error, Error_QuotaExceeded):
        return f"the store is full (limit: {error.value})"
    if isinstance(error, Error_InvalidKey):
        return f"invalid page name: {error.value}"
    return repr(error)
