import time as _time


def _now() -> float:
    """The monotonic clock, in seconds."""
    return _time.monotonic()


def _subscribe_at(when: float) -> Optional[Pollable]:
    """None: without `wasi:clocks/monotonic-clock` the loop cannot wait for
    a timer (timers run when other I/O wakes it)."""
    return None
