"""Run the sandbox component under wasmtime-py (PyPI `wasmtime`, 49.0.0),
as upstream componentize-py's sandbox host does: a store with a memory
limit and an epoch deadline, `exec` for each statement argument, `eval` for
the last argument.

    pip install wasmtime==49.0.0
    python3 host.py sandbox.wasm 'x = 6 * 7' 'x'

Prints one line per call: `ok: ...` or `err: ...` (a memory bomb gives
`err: MemoryError`: the growth fails and Python raises MemoryError).
"""

import sys
import threading

from wasmtime import Config, Engine, Store
from wasmtime.component import Component, Linker

MEMORY_LIMIT_BYTES = 64 * 1024 * 1024
TIMEOUT_SECONDS = 60


def main() -> None:
    if len(sys.argv) < 3:
        print("usage: python3 host.py COMPONENT [STATEMENTS...] EXPRESSION", file=sys.stderr)
        raise SystemExit(2)
    path, *statements, expression = sys.argv[1:]

    config = Config()
    config.epoch_interruption = True
    engine = Engine(config)
    # Compiled before the clock starts: the timeout is for the guest.
    component = Component.from_file(engine, path)
    timer = threading.Timer(TIMEOUT_SECONDS, engine.increment_epoch)
    timer.start()
    try:
        store = Store(engine)
        store.set_epoch_deadline(1)
        store.set_limits(memory_size=MEMORY_LIMIT_BYTES)
        # Built with --stub-wasi, the sandbox imports nothing.
        instance = Linker(engine).instantiate(store, component)
        calls = [("exec", statement) for statement in statements] + [("eval", expression)]
        for name, argument in calls:
            func = instance.get_func(store, name)
            assert func is not None, f"no export {name}"
            result = func(store, argument)
            func.post_return(store)
            print(f"{result.tag}: {result.payload}")
    finally:
        timer.cancel()


if __name__ == "__main__":
    main()
