"""A Python sandbox: eval and exec of untrusted snippets.

Snippets share one namespace, so `exec("x = 6 * 7")` then `eval("x")`
gives `'42'`. What a snippet prints is captured and returned, never written
to the host (the component has no WASI: writing there would trap). Only
modules the component carries are importable at run time: those imported
while building (this app imports a few useful ones) and what `--bundle`
adds; any other import raises ModuleNotFoundError.
"""

import builtins
import contextlib
import io
import traceback

# Imported now, so kept in the snapshot: snippets have them at hand and may
# also `import` them.
import json
import math
import re

import wit_world
from componentize_py_types import Err

_namespace: dict = {
    "__builtins__": builtins,
    "__name__": "__sandbox__",
    "json": json,
    "math": math,
    "re": re,
}


def _describe(error: BaseException) -> str:
    """`Type: message`, as the last line of a traceback shows it."""
    return "".join(traceback.format_exception_only(type(error), error)).strip()


class WitWorld(wit_world.WitWorld):
    def eval(self, expression: str) -> str:
        try:
            return repr(eval(expression, _namespace))
        except (Exception, SystemExit) as error:
            raise Err(_describe(error))

    def exec(self, statements: str) -> str:
        output = io.StringIO()
        try:
            with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
                exec(statements, _namespace)
        except (Exception, SystemExit) as error:
            raise Err(_describe(error))
        return output.getvalue()
