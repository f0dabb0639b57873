"""A WASI 0.3 command: greets each argument, writing to stdout through a stream.

    componentize-py -d cli.wit -w cli componentize app -o cli.wasm
    componentize-py run cli.wasm Bazel WASI
"""

import sys

import wit_world
from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import stdout


class Run(exports.Run):
    async def run(self) -> None:
        # WASI 0.3's stdout reads a stream<u8> the component writes; the
        # future it returns says how the writing ended.
        tx, rx = wit_world.byte_stream()
        done = stdout.write_via_stream(rx)
        with tx:
            for name in sys.argv[1:] or ["world"]:
                await tx.write_all(f"Hello, {name}! (wasi:cli/stdout@0.3.0)\n".encode())
        with done:
            result = await done.read()
        if isinstance(result, Err):
            # `run` returns `err`: the host exits with code 1.
            raise Err(None)
        if "fail" in sys.argv[1:]:
            raise Err(None)
