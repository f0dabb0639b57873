"""The ends of Component Model `future`s (upstream's classes and names).

The generated bindings make a `(writer, reader)` pair with
`<payload>_future(default)`; `default` makes the value written when the
writer is closed (or collected) without a `write`. A reader arrives as an
argument or inside a value, and is given away by passing it on.
"""

import weakref
from types import TracebackType
from typing import Any, Callable, Generic, Optional, Type, TypeVar, cast

import componentize_py_runtime as _rt
import componentize_py_async_support
from componentize_py_async_support import _ReturnCode, await_io

__all__ = ["FutureReader", "FutureWriter"]

T = TypeVar("T")


class FutureReader(Generic[T]):
    """The readable end of a `future<T>`.

    Read it once, or close it (a `with` block) to tell the writer that no
    value is wanted; a reader that becomes garbage is closed by its
    finalizer."""

    def __init__(self, type_: int, handle: int) -> None:
        """For generated code: apps get readers from the generated
        `<payload>_future()` or as arguments."""
        self.type_ = type_
        self.handle: Optional[int] = handle
        self.finalizer = weakref.finalize(self, _rt.future_drop_readable, type_, handle)

    async def read(self) -> T:
        """Wait for the value and return it; this closes the reader (a
        second read raises AssertionError)."""
        handle = self._take()
        code, value = await await_io(_rt.future_read(self.type_, handle))
        _rt.future_drop_readable(self.type_, handle)
        if code != _ReturnCode.COMPLETED:
            raise RuntimeError("the future's writer was dropped without a value")
        return cast(T, value)

    def _take(self) -> int:
        """Give the handle away (a read, or the runtime passing the reader
        on)."""
        handle = self.handle
        if handle is None:
            raise AssertionError("this future reader was read, closed or given away")
        self.finalizer.detach()
        self.handle = None
        return handle

    def _restore(self, handle: int) -> None:
        """Get the handle back (called by the runtime when a value holding
        this reader was not delivered)."""
        self.handle = handle
        self.finalizer = weakref.finalize(self, _rt.future_drop_readable, self.type_, handle)

    def __enter__(self) -> "FutureReader[T]":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> Optional[bool]:
        if self.handle is not None:
            _rt.future_drop_readable(self.type_, self._take())
        return None


async def _write(type_: int, handle: int, value: Any) -> bool:
    code, _ = await await_io(_rt.future_write(type_, handle, value))
    _rt.future_drop_writable(type_, handle)
    if code == _ReturnCode.COMPLETED:
        return True
    if code == _ReturnCode.DROPPED:
        return False
    raise AssertionError(f"future write ended with code {code}")


def _write_default(type_: int, handle: int, default: Callable[[], Any]) -> None:
    componentize_py_async_support.spawn(_write(type_, handle, default()))


class FutureWriter(Generic[T]):
    """The writable end of a `future<T>`.

    Write it once; closing it without a write (a `with` block, or the
    finalizer of a writer that became garbage) writes `default()`."""

    def __init__(self, type_: int, handle: int, default: Callable[[], T]) -> None:
        """For generated code: apps get writers from the generated
        `<payload>_future(default)`."""
        self.type_ = type_
        self.handle: Optional[int] = handle
        self.default = default
        self.finalizer = weakref.finalize(self, _write_default, type_, handle, default)

    async def write(self, value: T) -> bool:
        """Send `value`: True once the reader has it, False when the reader
        was closed first; then `value` is still the writer's (resources in
        it keep their handles). This closes the writer (a second write
        raises AssertionError)."""
        handle = self.handle
        if handle is None:
            raise AssertionError("this future writer was written or closed")
        self.finalizer.detach()
        self.handle = None
        return await _write(self.type_, handle, value)

    def __enter__(self) -> "FutureWriter[T]":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> Optional[bool]:
        if self.handle is not None:
            componentize_py_async_support.spawn(self.write(self.default()))
        return None
