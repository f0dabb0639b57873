"""Component Model async support for Python's `asyncio`.

The bindings of a world with `async` functions use this module: each call of
an async export is a Component Model task, run as an `asyncio` task on the
event loop below; an async import is awaited until the host reports that
its subtask returned. The one function meant for application code is
`spawn`.

This module is written by componentize-py for worlds that use async; it
needs CPython 3.11 or later.
"""

import asyncio
import contextvars
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple

import componentize_py_runtime as _rt
from componentize_py_types import Err

__all__ = ["spawn"]

class _ReturnCode:
    """How a stream or future read or write ended (upstream's names)."""

    COMPLETED = 0
    DROPPED = 1
    CANCELLED = 2


class _CallbackCode:
    EXIT = 0
    YIELD = 1
    WAIT = 2


class _Event:
    NONE = 0
    SUBTASK = 1
    STREAM_READ = 2
    STREAM_WRITE = 3
    FUTURE_READ = 4
    FUTURE_WRITE = 5
    CANCELLED = 6


class _Status:
    STARTING = 0
    STARTED = 1
    RETURNED = 2


class _TaskState:
    """What one Component Model task (one async export call) is waiting for."""

    def __init__(self) -> None:
        self.waitable_set: Optional[int] = None
        # Waitable handle -> the asyncio future its event resolves.
        self.futures: Dict[int, "asyncio.Future[int]"] = {}
        # Callbacks ready to run in this task.
        self.handles: List[asyncio.Handle] = []
        # The export's coroutine plus every `spawn`ed one not yet finished.
        self.pending = 1
        self.exception: Optional[BaseException] = None


_state: "contextvars.ContextVar[_TaskState]" = contextvars.ContextVar(
    "componentize_py_task_state"
)


class _Loop(asyncio.AbstractEventLoop):
    """An event loop driven by the host: callbacks run when the component
    is called (first poll, or an event for one of the task's waitables),
    in the context of the task they belong to."""

    def __init__(self) -> None:
        # The task whose callbacks are running (for call_exception_handler,
        # which asyncio calls outside the callback's context).
        self.current: Optional[_TaskState] = None

    def run_ready(self, state: _TaskState) -> None:
        self.current = state
        try:
            while state.handles:
                handles, state.handles = state.handles, []
                for handle in handles:
                    if not handle.cancelled():
                        handle._run()
                if state.exception is not None:
                    exception, state.exception = state.exception, None
                    raise exception
        finally:
            self.current = None

    # (typeshed's signature uses PEP 646 generics, which 3.11 code here
    # cannot spell without typing_extensions.)
    def call_soon(  # type: ignore[override]
        self,
        callback: Callable[..., object],
        *args: Any,
        context: Optional[contextvars.Context] = None,
    ) -> asyncio.Handle:
        if context is None:
            context = contextvars.copy_context()
        state = context.get(_state)
        if state is None:
            raise RuntimeError(
                "componentize-py: asyncio work outside an async export's task"
            )
        handle = asyncio.Handle(callback, args, self, context)
        state.handles.append(handle)
        return handle

    def create_task(self, coro: Any, *, name: Any = None, context: Any = None) -> "asyncio.Task[Any]":
        return asyncio.Task(coro, loop=self, name=name, context=context)

    def create_future(self) -> "asyncio.Future[Any]":
        return asyncio.Future(loop=self)

    def call_exception_handler(self, context: Dict[str, Any]) -> None:
        exception = context.get("exception")
        if exception is None:
            exception = RuntimeError(context.get("message", "asyncio error"))
        state = self.current
        if state is not None and state.exception is None:
            state.exception = exception

    def get_debug(self) -> bool:
        return False

    def is_running(self) -> bool:
        return True

    def is_closed(self) -> bool:
        return False

    def time(self) -> float:
        raise NotImplementedError(
            "componentize-py: asyncio timers are not available; await an import"
        )


# Only what component tasks use is implemented (no readers, signals,
# subprocesses or timers: WASI has none of them here).
_loop = _Loop()  # type: ignore[abstract]
asyncio.events._set_running_loop(_loop)


def _poll(state: _TaskState) -> int:
    _loop.run_ready(state)
    if state.pending == 0:
        if state.waitable_set is not None:
            _rt.waitable_set_drop(state.waitable_set)
            state.waitable_set = None
        return _CallbackCode.EXIT
    if state.waitable_set is None:
        raise RuntimeError(
            "componentize-py: the async export awaits something that is not a "
            "Component Model import, stream or future"
        )
    _rt.context_set(state)
    return _CallbackCode.WAIT | (state.waitable_set << 4)


async def _run_export(index: int, cx: int, coroutine: Awaitable[Any]) -> None:
    state = _state.get()
    try:
        try:
            value: Any = await coroutine
            is_err = False
        except Err as error:
            value, is_err = error, True
        _rt.call_task_return(index, cx, value, is_err)
    except BaseException as error:
        if state.exception is None:
            state.exception = error
    finally:
        state.pending -= 1


def first_poll(index: int, cx: int, coroutine: Awaitable[Any]) -> int:
    """Start an async export's task (called by the runtime, not by apps)."""
    state = _TaskState()
    context = contextvars.Context()
    context.run(_state.set, state)
    _loop.create_task(_run_export(index, cx, coroutine), context=context)
    return _poll(state)


def callback(event: int, waitable: int, code: int) -> int:
    """Deliver an event to the current task (called by the runtime)."""
    state = _rt.context_get()
    _rt.context_set(None)
    if event == _Event.SUBTASK:
        if code == _Status.RETURNED:
            _rt.waitable_join(waitable, 0)
            _rt.subtask_drop(waitable)
            state.futures.pop(waitable).set_result(code)
    elif event in (
        _Event.STREAM_READ,
        _Event.STREAM_WRITE,
        _Event.FUTURE_READ,
        _Event.FUTURE_WRITE,
    ):
        _rt.waitable_join(waitable, 0)
        state.futures.pop(waitable).set_result(code)
    elif event != _Event.NONE:
        raise NotImplementedError(f"componentize-py: async event {event}")
    return _poll(state)


async def await_waitable(waitable: int) -> int:
    """Wait for the next event of `waitable` in the current task; returns its
    code (called by generated code)."""
    return await _join(waitable)


def _join(waitable: int) -> "asyncio.Future[int]":
    """The future that the next event of `waitable` resolves with its code,
    `waitable` joined to the current task's waitable set."""
    state = _state.get()
    future: "asyncio.Future[int]" = _loop.create_future()
    state.futures[waitable] = future
    if state.waitable_set is None:
        state.waitable_set = _rt.waitable_set_new()
    _rt.waitable_join(waitable, state.waitable_set)
    return future


async def call_import(index: int, args: Tuple[Any, ...], unwrap: bool) -> Any:
    """Call async import `index` and wait for its result (called by
    generated code). With `unwrap` (a top-level `result`) an `Ok` is
    returned as its value and an `Err` raised."""
    subtask, value = _rt.call_import_async(index, args)
    if subtask != 0:
        await await_waitable(subtask)
        value = _rt.promise_get_result(value)
    if unwrap:
        if isinstance(value, Err):
            raise value
        return value.value
    return value


async def await_io(started: Tuple[int, Any]) -> Any:
    """Finish a stream or future read or write that the runtime started
    (called by `componentize_py_async_support.streams` and `.futures`).

    `started` is `(0, result)` when it finished at once, else `(waitable,
    promise)`: wait for the end's event, then let the runtime lift what was
    read or give back what was not written. When the awaiting task is
    cancelled the operation is cancelled too: values not written come back
    to the writer, values already read are dropped, and the
    `CancelledError` propagates."""
    waitable, value = started
    if waitable == 0:
        return value
    future = _join(waitable)
    try:
        code = await future
    except asyncio.CancelledError:
        if future.done() and not future.cancelled():
            # The event came, but the task was cancelled before it resumed.
            code = future.result()
        else:
            _state.get().futures.pop(waitable, None)
            _rt.waitable_join(waitable, 0)
            code = _rt.io_cancel(value)
        _rt.io_get_result(value, code)
        raise
    return _rt.io_get_result(value, code)


async def _run_spawned(coroutine: Awaitable[Any]) -> None:
    state = _state.get()
    try:
        await coroutine
    except BaseException as error:
        if state.exception is None:
            state.exception = error
    finally:
        state.pending -= 1


def spawn(coroutine: Awaitable[Any]) -> None:
    """Run `coroutine` as part of the current Component Model task.

    An async export's task ends when its coroutine has returned and every
    coroutine spawned in it has finished: work spawned here may go on after
    the export returned its value (for example writing a stream the caller
    got in the result). An exception in it traps, as one in the export does.
    """
    _state.get().pending += 1
    _loop.create_task(_run_spawned(coroutine))
