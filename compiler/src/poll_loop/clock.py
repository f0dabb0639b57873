from @PACKAGE@.imports import @CLOCK@ as _clock


def _now() -> float:
    """`wasi:clocks/monotonic-clock#now`, in seconds."""
    return _clock.now() / 1e9


def _subscribe_at(when: float) -> Optional[Pollable]:
    """A pollable that is ready at `when` (seconds, as `_now`)."""
    return _clock.subscribe_instant(max(0, int(when * 1e9)))
