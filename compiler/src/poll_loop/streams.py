

class Stream:
    """Reads a `wasi:io/streams` input stream@STREAM_SOURCES@ chunk by chunk."""

    def __init__(self, body: @STREAM_SOURCE_TYPE@) -> None:
@STREAM_INIT@

    async def next(self) -> Optional[bytes]:
        """The next chunk of data (at most `READ_SIZE` bytes), waiting for it
        to arrive; None at the end of the stream (the stream and body are
        then dropped)."""
        while self.stream is not None:
            try:
                chunk = self.stream.read(READ_SIZE)
            except Err as error:
                if not isinstance(error.value, @CLOSED@):
                    raise
                self._finish()
                return None
            if chunk:
                return chunk
            await register(_running_loop(), self.stream.subscribe())
        return None

    def close(self) -> None:
        """Stop reading: drop the stream (and finish the body)."""
        self._finish()

    def _finish(self) -> None:
        if self.stream is not None:
            self.stream.__exit__(None, None, None)
            self.stream = None
@STREAM_FINISH@


class Sink:
    """Writes a `wasi:io/streams` output stream@SINK_TARGETS@, waiting
    whenever the stream has no room."""

    def __init__(self, body: @SINK_TARGET_TYPE@) -> None:
@SINK_INIT@

    async def send(self, chunk: bytes) -> None:
        """Write all of `chunk` and flush it, waiting as the stream asks."""
        stream = self._open_stream()
        offset = 0
        while offset < len(chunk):
            room = stream.check_write()
            if room == 0:
                await register(_running_loop(), stream.subscribe())
                continue
            count = min(room, len(chunk) - offset)
            stream.write(chunk[offset : offset + count])
            offset += count
        stream.flush()
        while stream.check_write() == 0:
            await register(_running_loop(), stream.subscribe())

    def _open_stream(self) -> OutputStream:
        if self.stream is None:
            raise RuntimeError("the sink is closed")
        return self.stream

    def close(self) -> None:
        """Close the stream (and finish the body): no more data follows."""
        if self.stream is not None:
            self.stream.__exit__(None, None, None)
            self.stream = None
@SINK_CLOSE@
