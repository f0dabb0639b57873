"""The byte-code pre-pass (compiler/src/bytecode.rs), run in an interpreter
instance of its own before the app's import.

The runtime imports this module as the registry of a stand-in bindings
package (runtime/init.c imports `<package>._registry` right after CPython has
started), so its body runs with nothing else imported: it compiles each source
that `files.txt` names into a hash-based pyc (checked against its source when
imported), writes them all into one file, `out.pycs` (per source, in the
order of `files.txt`: the pyc's length as 8 bytes, little-endian, then the
pyc; one file, so that the host's file system does not allocate one per
source), and ends the instance with `os._exit(0)`.  A source that does not
compile gets length 0: the app's import compiles it again and reports the
error as usual.

Each code object is marshalled and dropped before the next source is
compiled, and the one-character strings are interned first, so a pyc
depends on its source and path only, not on which other sources the same
instance compiled (marshal writes back-references for objects that
something else also references, and whether a string is interned).
"""

import _imp
import marshal
import os
import sys
from _frozen_importlib_external import MAGIC_NUMBER, _RAW_MAGIC_NUMBER

_DIR = "/componentize-py-prepass"
# As in compiler/src/bundle.py: where the `-p` folders are, and CPython
# 3.11's `__future__.annotations.compiler_flag`.
_APP = "/app/"
_DEFER_ANNOTATIONS = 0x1000000


def _pyc(path):
    """The pyc of the source at `path` with its length before it; only the
    length, 0, when it does not compile."""
    try:
        with open(path, "rb") as file:
            source = file.read()
        # As SourceLoader.source_to_code compiles it: with deferred
        # annotations below the `-p` folders (`defer_annotations` in
        # compiler/src/bundle.py).
        flags = _DEFER_ANNOTATIONS if path.startswith(_APP) else 0
        code = compile(source, path, "exec", flags=flags, dont_inherit=True)
    except (OSError, SyntaxError, ValueError, UnicodeError):
        return bytes(8)
    data = bytearray(8)
    data.extend(MAGIC_NUMBER)
    data.extend((0b11).to_bytes(4, "little"))  # hash-based, checked
    data.extend(_imp.source_hash(_RAW_MAGIC_NUMBER, source))
    data.extend(marshal.dumps(code))
    del code
    data[:8] = (len(data) - 8).to_bytes(8, "little")
    return data


def _main():
    # The one-character strings are singletons, and marshal writes whether
    # each is interned: compiling `from m import *` interns "*" for good,
    # which changed the pycs of later sources using "*". Interned from the
    # start, they are the same whatever this instance compiled before.
    for i in range(256):
        sys.intern(chr(i))
    with open(_DIR + "/files.txt", encoding="utf-8") as listing:
        paths = listing.read().split("\n")
    with open(_DIR + "/out.pycs", "wb") as out:
        for path in paths:
            out.write(_pyc(path))
    os._exit(0)


_main()
