"""The byte-code pre-pass (compiler/src/bytecode.rs), run in an interpreter
instance of its own before the app's import.

The runtime imports this module as the registry of a stand-in bindings
package (runtime/init.c imports `<package>._registry` right after CPython has
started), so its body runs with nothing else imported: it compiles each source
that `files.txt` names, writes `out/<line number>.pyc` (a hash-based pyc,
checked against its source when imported) and ends the instance with
`os._exit(0)`.  A source that does not compile is skipped: the app's import
compiles it again and reports the error as usual.

Each code object is marshalled and dropped before the next source is
compiled, so a pyc depends on its source and path only, not on which other
sources the same instance compiled (marshal writes back-references for
objects that something else also references).
"""

import _imp
import marshal
import os
from _frozen_importlib_external import MAGIC_NUMBER, _RAW_MAGIC_NUMBER

_DIR = "/componentize-py-prepass"
# As in compiler/src/bundle.py: where the `-p` folders are, and CPython
# 3.11's `__future__.annotations.compiler_flag`.
_APP = "/app/"
_DEFER_ANNOTATIONS = 0x1000000


def _main():
    with open(_DIR + "/files.txt", encoding="utf-8") as listing:
        paths = listing.read().split("\n")
    for index, path in enumerate(paths):
        if not path:
            continue
        try:
            with open(path, "rb") as file:
                source = file.read()
            # As SourceLoader.source_to_code compiles it: with deferred
            # annotations below the `-p` folders (`defer_annotations` in
            # compiler/src/bundle.py).
            flags = _DEFER_ANNOTATIONS if path.startswith(_APP) else 0
            code = compile(source, path, "exec", flags=flags, dont_inherit=True)
        except (OSError, SyntaxError, ValueError, UnicodeError):
            continue
        data = bytearray(MAGIC_NUMBER)
        data.extend((0b11).to_bytes(4, "little"))  # hash-based, checked
        data.extend(_imp.source_hash(_RAW_MAGIC_NUMBER, source))
        data.extend(marshal.dumps(code))
        del code
        with open(f"{_DIR}/out/{index}.pyc", "wb") as out:
            out.write(data)
    os._exit(0)


_main()
