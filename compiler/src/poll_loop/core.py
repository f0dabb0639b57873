"""An `asyncio` event loop that waits on `wasi:io/poll`.

Written by componentize-py for the world's bindings package `@PACKAGE@`.
Run coroutines with it as with any event loop:

    loop = poll_loop.PollLoop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(main())

A coroutine waits for a WASI pollable with `await register(loop, pollable)`;
`Stream` and `Sink` read and write WASI streams (and `wasi:http` bodies),
and `send` makes an outgoing `wasi:http` request, where the world has them.
"""

import asyncio
import heapq
from collections import deque
from typing import Any, Callable, Deque, List, Optional, Tuple, Union

from componentize_py_types import Ok, Err
from @PACKAGE@.imports import @POLL@ as _poll
from @PACKAGE@.imports.@POLL@ import Pollable
@STREAMS_IMPORT@
@HTTP_IMPORT@
@CLOCK_IMPORT@

# The most bytes `Stream.next` reads at a time.
READ_SIZE: int = 16 * 1024


class PollLoop(asyncio.AbstractEventLoop):
    """An `asyncio` event loop backed by `wasi:io/poll#poll`.

    Callbacks run in the order they were scheduled; when none is ready, the
    loop blocks in `poll` until a registered pollable (or the next timer,
    where the world imports `wasi:clocks/monotonic-clock`) is ready. A loop
    with nothing left to run or wait for while its future is pending raises
    `RuntimeError` instead of hanging.
    """

    def __init__(self) -> None:
        self._ready: Deque[asyncio.Handle] = deque()
        self._timers: List[asyncio.TimerHandle] = []
        self._waiting: List[Tuple[Pollable, "asyncio.Future[None]"]] = []
        self._running = False
        self._stopping = False
        self._closed = False
        self._exception: Optional[BaseException] = None
        self._exception_handler: Optional[Callable[..., Any]] = None
        self._debug = False

    # Running

    def run_until_complete(self, future: Any) -> Any:
        """Run until `future` (a coroutine or future) is done; return its
        result or raise its exception."""
        future = asyncio.ensure_future(future, loop=self)
        self._run(future.done)
        if self._exception is not None and not future.done():
            raise self._exception
        return future.result()

    def run_forever(self) -> None:
        """Run until `stop()` is called."""
        self._run(lambda: False)

    def _run(self, done: Callable[[], bool]) -> None:
        if self._running:
            raise RuntimeError("this event loop is already running")
        if self._closed:
            raise RuntimeError("the event loop is closed")
        self._running = True
        self._stopping = False
        self._exception = None
        previous = asyncio.events._get_running_loop()
        asyncio.events._set_running_loop(self)
        try:
            while not done() and not self._stopping:
                self._run_once(done)
                if self._exception is not None:
                    error, self._exception = self._exception, None
                    raise error
        finally:
            self._running = False
            asyncio.events._set_running_loop(previous)

    def _run_once(self, done: Callable[[], bool]) -> None:
        """Run the callbacks ready now, then, unless that finished the run,
        wait for I/O or a timer if nothing else is ready."""
        self._release_due_timers()
        for _ in range(len(self._ready)):
            handle = self._ready.popleft()
            if not handle._cancelled:
                handle._run()
        # Forget waiters whose coroutine was cancelled (`register` already
        # dropped their pollables).
        self._waiting = [(p, w) for (p, w) in self._waiting if not w.done()]
        if self._ready or self._stopping or done():
            return
        self._release_due_timers()
        if self._ready:
            return
        pollables = [pollable for pollable, _ in self._waiting]
        timer = self._timer_pollable()
        if timer is not None:
            pollables.append(timer)
        if not pollables:
            if self._timers:
                raise RuntimeError(
                    "a coroutine waits for a timer, but the world does not import "
                    "wasi:clocks/monotonic-clock to wait with"
                )
            raise RuntimeError(
                "the event loop has nothing left to run or wait for, but the "
                "future it runs is not done"
            )
        ready = set(_poll.poll(pollables))
        if timer is not None:
            timer.__exit__(None, None, None)
        still_waiting = []
        for index, (pollable, waker) in enumerate(self._waiting):
            if index in ready:
                pollable.__exit__(None, None, None)
                if not waker.done():
                    waker.set_result(None)
            else:
                still_waiting.append((pollable, waker))
        self._waiting = still_waiting

    def _release_due_timers(self) -> None:
        now = self.time() if self._timers else 0.0
        while self._timers and (self._timers[0]._cancelled or self._timers[0].when() <= now):
            handle = heapq.heappop(self._timers)
            if not handle._cancelled:
                self._ready.append(handle)

    def _timer_pollable(self) -> Optional[Pollable]:
        while self._timers and self._timers[0]._cancelled:
            heapq.heappop(self._timers)
        if not self._timers:
            return None
        return _subscribe_at(self._timers[0].when())

    def is_running(self) -> bool:
        return self._running

    def is_closed(self) -> bool:
        return self._closed

    def stop(self) -> None:
        self._stopping = True

    def close(self) -> None:
        if self._running:
            raise RuntimeError("cannot close a running event loop")
        self._closed = True
        self._ready.clear()
        self._timers.clear()

    async def shutdown_asyncgens(self) -> None:
        pass

    async def shutdown_default_executor(self) -> None:
        pass

    # Scheduling

    def call_soon(self, callback: Callable[..., Any], *args: Any, context: Any = None) -> asyncio.Handle:
        handle = asyncio.Handle(callback, args, self, context)
        self._ready.append(handle)
        return handle

    # One thread only: the same as `call_soon`.
    call_soon_threadsafe = call_soon

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any, context: Any = None) -> asyncio.TimerHandle:
        return self.call_at(self.time() + delay, callback, *args, context=context)

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any, context: Any = None) -> asyncio.TimerHandle:
        handle = asyncio.TimerHandle(when, callback, args, self, context)
        heapq.heappush(self._timers, handle)
        return handle

    def time(self) -> float:
        return _now()

    def _timer_handle_cancelled(self, handle: asyncio.TimerHandle) -> None:
        # Cancelled timers are skipped when they come due.
        pass

    def create_future(self) -> "asyncio.Future[Any]":
        return asyncio.Future(loop=self)

    def create_task(self, coroutine: Any, *, name: Optional[str] = None, context: Any = None) -> "asyncio.Task[Any]":
        # `coroutine`, as upstream names it (asyncio's own loops: `coro`).
        if context is None:
            return asyncio.Task(coroutine, loop=self, name=name)
        return asyncio.Task(coroutine, loop=self, name=name, context=context)

    # Errors and debugging

    def get_exception_handler(self) -> Optional[Callable[..., Any]]:
        return self._exception_handler

    def set_exception_handler(self, handler: Optional[Callable[..., Any]]) -> None:
        self._exception_handler = handler

    def default_exception_handler(self, context: dict) -> None:
        exception = context.get("exception")
        if exception is not None and self._running:
            # Raised from `run_until_complete`, as upstream's loop does.
            self._exception = exception
        else:
            import sys

            print(f"poll_loop: {context.get('message', 'error')}: {exception!r}", file=sys.stderr)

    def call_exception_handler(self, context: dict) -> None:
        if self._exception_handler is not None:
            self._exception_handler(self, context)
        else:
            self.default_exception_handler(context)

    def get_debug(self) -> bool:
        return self._debug

    def set_debug(self, enabled: bool) -> None:
        self._debug = enabled

    def set_task_factory(self, factory: Any) -> None:
        raise NotImplementedError("PollLoop has no task factories")

    def get_task_factory(self) -> None:
        return None

    # What a WASI component cannot do: files descriptors, OS sockets,
    # subprocesses, signals, threads (sockets go through `wasi:sockets`).

    def _unsupported(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("not available in PollLoop; use wasi:sockets and wasi:http with register()")

    run_in_executor = set_default_executor = _unsupported
    add_reader = remove_reader = add_writer = remove_writer = _unsupported
    add_signal_handler = remove_signal_handler = _unsupported

    async def _unsupported_async(self, *args: Any, **kwargs: Any) -> Any:
        self._unsupported()

    getaddrinfo = getnameinfo = _unsupported_async
    create_connection = create_server = sendfile = start_tls = _unsupported_async
    create_unix_connection = create_unix_server = connect_accepted_socket = _unsupported_async
    create_datagram_endpoint = connect_read_pipe = connect_write_pipe = _unsupported_async
    subprocess_shell = subprocess_exec = _unsupported_async
    sock_recv = sock_recv_into = sock_recvfrom = sock_recvfrom_into = _unsupported_async
    sock_sendall = sock_sendto = sock_connect = sock_accept = sock_sendfile = _unsupported_async


class _PollLoopPolicy(asyncio.events.BaseDefaultEventLoopPolicy):
    """asyncio's default policy with `PollLoop` as the loop."""

    _loop_factory = PollLoop

    # A component has no child processes to watch.
    def get_child_watcher(self) -> Any:
        raise NotImplementedError("a component has no child processes")

    def set_child_watcher(self, watcher: Any) -> None:
        raise NotImplementedError("a component has no child processes")


def _use_as_default() -> None:
    """Make `PollLoop` asyncio's default loop (`asyncio.run`,
    `asyncio.new_event_loop`, `asyncio.get_event_loop`), as upstream's
    CPython makes its selector loop work: a component has no selector loop.
    Called when the app imports `asyncio` (compiler/src/bundle.py)."""
    asyncio.set_event_loop_policy(_PollLoopPolicy())


async def register(loop: PollLoop, pollable: Pollable) -> None:
    """Wait until `pollable` is ready; the pollable is dropped then (or when
    the waiting coroutine is cancelled), so pass a fresh one each time."""
    waker = loop.create_future()
    entry = (pollable, waker)
    loop._waiting.append(entry)
    try:
        await waker
    finally:
        if not waker.done() or waker.cancelled():
            # Cancelled: drop the pollable now, before its parent resource
            # can be dropped.
            if entry in loop._waiting:
                loop._waiting.remove(entry)
            pollable.__exit__(None, None, None)


def _running_loop() -> PollLoop:
    loop = asyncio.get_running_loop()
    if not isinstance(loop, PollLoop):
        raise RuntimeError("poll_loop needs a running PollLoop (see the module's docstring)")
    return loop
