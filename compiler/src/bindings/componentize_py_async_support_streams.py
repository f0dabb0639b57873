"""The ends of Component Model `stream`s (upstream's classes and names).

`stream<u8>` is read and written as `bytes` (`ByteStreamReader`,
`ByteStreamWriter`); a stream of any other type as lists of values
(`StreamReader[T]`, `StreamWriter[T]`). The generated bindings make a
`(writer, reader)` pair with `byte_stream()` or `<payload>_stream()`; a
reader arrives as an argument or inside a value, and is given away by
passing it on (as an argument, result or inside a written value).

Close each end promptly, with a `with` block, so that the other side
learns it is done; an end that becomes garbage is closed by its finalizer.
"""

import weakref
from types import TracebackType
from typing import Generic, List, Optional, Sequence, Tuple, Type, TypeVar, Union, cast

import componentize_py_runtime as _rt
from componentize_py_async_support import _ReturnCode, await_io

__all__ = ["ByteStreamReader", "ByteStreamWriter", "StreamReader", "StreamWriter"]

T = TypeVar("T")


def _drop_readable(type_: int, handle: int) -> None:
    _rt.stream_drop_readable(type_, handle)


def _drop_writable(type_: int, handle: int) -> None:
    _rt.stream_drop_writable(type_, handle)


class _End:
    """What both ends of a stream have: the type index and the handle (None
    while a read or write is in progress, and once closed or given away)."""

    _drop = staticmethod(_drop_readable)

    def __init__(self, type_: int, handle: int) -> None:
        self.type_ = type_
        self.handle: Optional[int] = handle
        self.finalizer = weakref.finalize(self, type(self)._drop, type_, handle)

    def _begin(self) -> int:
        handle = self.handle
        if handle is None:
            raise AssertionError(
                "this stream end is closed, given away, or busy with another "
                "read or write"
            )
        self.handle = None
        return handle

    def _take(self) -> int:
        """Give the handle away (called by the runtime when the end is
        passed on)."""
        handle = self._begin()
        self.finalizer.detach()
        return handle

    def _restore(self, handle: int) -> None:
        """Get the handle back (called by the runtime when a value holding
        this end was not delivered)."""
        self.handle = handle
        self.finalizer = weakref.finalize(self, type(self)._drop, self.type_, handle)

    def __enter__(self) -> "_End":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> Optional[bool]:
        self.finalizer.detach()
        handle = self.handle
        self.handle = None
        if handle is not None:
            type(self)._drop(self.type_, handle)
        return None


class _Reader(_End):
    def __init__(self, type_: int, handle: int) -> None:
        super().__init__(type_, handle)
        self.writer_dropped = False

    async def _read(self, max_count: int) -> Union[bytes, List[object]]:
        handle = self._begin()
        try:
            code, values = await await_io(_rt.stream_read(self.type_, handle, max_count))
        finally:
            self.handle = handle
        if code == _ReturnCode.DROPPED:
            self.writer_dropped = True
        return cast(Union[bytes, List[object]], values)


class _Writer(_End):
    _drop = staticmethod(_drop_writable)

    def __init__(self, type_: int, handle: int) -> None:
        super().__init__(type_, handle)
        self.reader_dropped = False

    async def _write(self, source: Union[bytes, Sequence[object]]) -> int:
        if self.reader_dropped:
            return 0
        handle = self._begin()
        try:
            code, count = await await_io(_rt.stream_write(self.type_, handle, source))
        finally:
            self.handle = handle
        if code == _ReturnCode.DROPPED:
            self.reader_dropped = True
        return cast(int, count)


class ByteStreamReader(_Reader):
    """The readable end of a `stream<u8>`."""

    def __init__(self, type_: int, handle: int) -> None:
        """For generated code: apps get readers from `byte_stream()` or as
        arguments."""
        super().__init__(type_, handle)

    async def read(self, max_count: int) -> bytes:
        """Read up to `max_count` bytes: returns when at least one byte came
        or the writer closed its end (then `writer_dropped` is True and
        what is returned may be empty; every later read returns `b""`).
        One read at a time per reader (AssertionError otherwise)."""
        if self.writer_dropped:
            return b""
        return cast(bytes, await self._read(max_count))

    def __enter__(self) -> "ByteStreamReader":
        return self


class ByteStreamWriter(_Writer):
    """The writable end of a `stream<u8>`."""

    def __init__(self, type_: int, handle: int) -> None:
        """For generated code: apps get writers from `byte_stream()`."""
        super().__init__(type_, handle)

    async def write(self, source: bytes) -> int:
        """Write (some of) `source`: returns how many bytes the reader took,
        when it took at least one or closed its end (then `reader_dropped`
        is True and 0 is returned from then on). See `write_all`."""
        return await self._write(source)

    async def write_all(self, source: bytes) -> int:
        """Write all of `source` unless the reader closes its end first;
        returns how many bytes it took."""
        total = 0
        while len(source) > 0 and not self.reader_dropped:
            count = await self.write(source)
            source = source[count:]
            total += count
        return total

    def __enter__(self) -> "ByteStreamWriter":
        return self


class StreamReader(_Reader, Generic[T]):
    """The readable end of a `stream<T>`."""

    def __init__(self, type_: int, handle: int) -> None:
        """For generated code: apps get readers from the generated
        `<payload>_stream()` or as arguments."""
        super().__init__(type_, handle)

    async def read(self, max_count: int) -> List[T]:
        """Read up to `max_count` values: returns when at least one came or
        the writer closed its end (then `writer_dropped` is True and the
        list may be empty; every later read returns `[]`). One read at a
        time per reader (AssertionError otherwise)."""
        if self.writer_dropped:
            return []
        return cast(List[T], await self._read(max_count))

    def __enter__(self) -> "StreamReader[T]":
        return self


class StreamWriter(_Writer, Generic[T]):
    """The writable end of a `stream<T>`."""

    def __init__(self, type_: int, handle: int) -> None:
        """For generated code: apps get writers from the generated
        `<payload>_stream()`."""
        super().__init__(type_, handle)

    async def write(self, source: List[T]) -> int:
        """Write (some of) `source`: returns how many values the reader
        took, when it took at least one or closed its end (then
        `reader_dropped` is True and 0 is returned from then on). The values
        it did not take stay the writer's: resources among them keep their
        handles. See `write_all`."""
        return await self._write(source)

    async def write_all(self, source: List[T]) -> int:
        """Write all of `source` unless the reader closes its end first;
        returns how many values it took."""
        total = 0
        while len(source) > 0 and not self.reader_dropped:
            count = await self.write(source)
            source = source[count:]
            total += count
        return total

    def __enter__(self) -> "StreamWriter[T]":
        return self
