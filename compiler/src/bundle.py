"""Python modules carried inside the component, for imports at run time.

The compiler writes this file next to the generated bindings, and the
runtime (runtime/init.c) imports it at the end of pre-initialisation, after
the app has been imported.  At that moment the build machine's folders are
still visible (the stdlib under /python, the `-p` folders under /app/N); in
the finished component they are not.  So this module compiles, at build
time, every module that the app may still import later, keeps their byte
code (`marshal` format) in `_MODULES`, and installs `BundleFinder` on
`sys.meta_path`, which serves those imports at run time without any file
system.

Which modules, after `COMPONENTIZE_PY_BUNDLE` (the `--bundle` option):

- `imported`: none beyond what is already imported (and the packages named
  in `COMPONENTIZE_PY_BUNDLE_PACKAGES`);
- `reachable` (default): every module that an `import` statement names in
  the code of the app and its dependencies (the modules imported from the
  `-p` folders and the bindings), also inside functions, and so on
  transitively through the modules found; stdlib modules are followed as far
  as importing them runs (their module and class bodies, not their
  functions); imports under `if TYPE_CHECKING:` are not followed; plus the
  modules that CPython's C code imports by name (`_IMPLICIT`);
- `all`: every module in the stdlib and in the `-p` folders.

Packages named in `COMPONENTIZE_PY_BUNDLE_PACKAGES` (comma-separated) are
added with all their submodules in every mode, together with what they reach
(in `reachable` mode); use it for modules imported by computed name
(`importlib.import_module(name)`).

Everything here runs in a deterministic interpreter, so the byte code, the
dict order and thus the snapshot are the same on every build.
"""

import _imp
import marshal
import sys
from _frozen_importlib import ModuleSpec
from _frozen_importlib_external import (
    BYTECODE_SUFFIXES,
    EXTENSION_SUFFIXES,
    SOURCE_SUFFIXES,
    PathFinder,
    SourceFileLoader,
    SourceLoader,
)

# name -> (is_package, origin, marshalled code)
_MODULES = {}

# Where the stdlib is while building (runtime/init.c).
_STDLIB = "/python/lib/"

# Where the `-p` folders are while building (compiler/src/preinit.rs): the
# app and its dependencies.
_APP = "/app/"

# CPython 3.11's `__future__.annotations.compiler_flag` (CO_FUTURE_ANNOTATIONS).
_DEFER_ANNOTATIONS = 0x1000000


def annotation_flags(path):
    """The compiler flags of a source at `path`: PEP 563's deferred
    annotations for the app and its dependencies (below `_APP`), none for
    the stdlib and the generated bindings. See `defer_annotations`."""
    return _DEFER_ANNOTATIONS if isinstance(path, str) and path.startswith(_APP) else 0


def compile_source(spec, name):
    """The code of module `name` (a `SourceFileLoader`'s `spec`), as the
    import would load it: from the pyc mounted next to the source when
    there is one (the toolchain's for the stdlib, compiler/src/stdlib_pycs.rs;
    the byte-code pre-pass's for the `-p` folders, compiler/src/bytecode.rs),
    else compiled with the import's flags (`defer_annotations`)."""
    return spec.loader.get_code(name)


class BundleLoader:
    """Executes a bundled module's code (a loader in the sense of PEP 451)."""

    @staticmethod
    def create_module(spec):
        return None

    @staticmethod
    def exec_module(module):
        code = marshal.loads(_MODULES[module.__spec__.name][2])
        exec(code, module.__dict__)
        if module.__spec__.name == "asyncio":
            _use_poll_loop()

    @staticmethod
    def is_package(name):
        return _MODULES[name][0]


def _use_poll_loop():
    """asyncio's own loop cannot run in a component (it needs sockets and
    `select`): where the bindings have `poll_loop` (worlds that import
    `wasi:io/poll@0.2`), its `PollLoop` becomes asyncio's default loop as
    soon as the app has imported asyncio."""
    try:
        import poll_loop
    except ModuleNotFoundError as error:
        if error.name != "poll_loop":
            raise
        return
    use = getattr(poll_loop, "_use_as_default", None)
    if use is not None:
        use()


class BundleFinder:
    """Finds the modules in `_MODULES` (a meta path finder, PEP 451)."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        entry = _MODULES.get(name)
        if entry is None:
            return None
        is_package, origin, _ = entry
        spec = ModuleSpec(name, BundleLoader, origin=origin, is_package=is_package)
        spec.has_location = origin is not None
        return spec


# ------------------------------------------------------------ build time

# Sources of modules that are frozen under other names (`_frozen_importlib`,
# `_frozen_importlib_external`); `importlib` imports them only as a fallback.
_FROZEN_ALIASES = {"importlib._bootstrap", "importlib._bootstrap_external"}

# Modules that CPython's C code imports by name, which no `import` statement
# shows: `str.encode`, `bytes.decode` and `codecs.lookup` import
# `encodings.<name>` (the common text codecs here; codecs named by a string
# in the app's code are added too, see `_Collector.codecs`; `--bundle-package
# encodings` for every one), and `datetime.strptime` imports `_strptime`
# (with `datetime`: `_IMPLICIT_WITH`).
_IMPLICIT = (
    "encodings.ascii",
    "encodings.cp1252",
    "encodings.latin_1",
    "encodings.raw_unicode_escape",
    "encodings.unicode_escape",
    "encodings.utf_16",
    "encodings.utf_16_be",
    "encodings.utf_16_le",
    "encodings.utf_32",
    "encodings.utf_32_be",
    "encodings.utf_32_le",
    "encodings.utf_8_sig",
)
# (`time.strptime` imports it too, but `time` is always imported: an app
# that uses it needs `--bundle-package _strptime`.)
_IMPLICIT_WITH = {"datetime": "_strptime"}

# CPython 3.11's opcodes (checked against the `opcode` module in `collect`).
_OPCODES = {
    "CACHE": 0,
    "LOAD_CONST": 100,
    "LOAD_NAME": 101,
    "LOAD_ATTR": 106,
    "IMPORT_NAME": 108,
    "POP_JUMP_FORWARD_IF_FALSE": 114,
    "LOAD_GLOBAL": 116,
    "EXTENDED_ARG": 144,
}
_CACHE = _OPCODES["CACHE"]
_LOAD_CONST = _OPCODES["LOAD_CONST"]
_IMPORT_NAME = _OPCODES["IMPORT_NAME"]
_JUMP_IF_FALSE = _OPCODES["POP_JUMP_FORWARD_IF_FALSE"]
_EXTENDED_ARG = _OPCODES["EXTENDED_ARG"]
_LOAD_NAMES = {_OPCODES["LOAD_NAME"]: 0, _OPCODES["LOAD_ATTR"]: 0, _OPCODES["LOAD_GLOBAL"]: 1}


# A function's code (also a lambda's, a comprehension's), not a class body's.
_CO_NEWLOCALS = 0x0002


def _walk(code, functions, imports, strings):
    """Append (name, fromlist, level) for every IMPORT_NAME in `code` and
    the class bodies nested in it, and in the functions too when
    `functions`, to `imports`; and, unless `strings` is None, the short
    string constants of all that code (candidate codec names, see
    `_Collector.codecs`) to `strings`."""
    raw = code.co_code
    # Most code objects (functions above all) import nothing: one look at
    # the opcodes (every other byte) instead of a loop over them.
    if _IMPORT_NAME in raw[::2]:
        imports.extend(_imports_in(code, raw))
    for const in code.co_consts:
        if hasattr(const, "co_code"):
            if functions or not const.co_flags & _CO_NEWLOCALS:
                _walk(const, functions, imports, strings)
        elif strings is not None and isinstance(const, str) and 0 < len(const) <= 32:
            strings.append(const)


def _imports_in(code, raw):
    """The IMPORT_NAMEs of `code` itself (not of the code nested in it)."""
    arg_high = 0
    consts = [None, None]  # the last two LOAD_CONST values
    type_checking = False  # the last instruction loaded TYPE_CHECKING
    skip_to = 0  # the end of an `if TYPE_CHECKING:` block
    for offset in range(0, len(raw), 2):
        op = raw[offset]
        arg = raw[offset + 1] | arg_high
        if op == _EXTENDED_ARG:
            arg_high = arg << 8
            continue
        arg_high = 0
        if op == _CACHE or offset < skip_to:
            continue
        if op == _JUMP_IF_FALSE and type_checking:
            # `if TYPE_CHECKING:` imports only for type checkers.
            skip_to = offset + 2 + 2 * arg
        type_checking = op in _LOAD_NAMES and code.co_names[arg >> _LOAD_NAMES[op]] == "TYPE_CHECKING"
        if op == _LOAD_CONST:
            consts = [consts[1], code.co_consts[arg]]
            continue
        if op == _IMPORT_NAME:
            level, fromlist = consts
            if isinstance(level, int):
                yield code.co_names[arg], fromlist, level
        consts = [None, None]


def _summary(code):
    """What the scan needs of a module's code: its imports and, for code
    outside the stdlib, its short string constants. The app's own code is
    followed into its functions (a function may import a module the first
    time it is called); stdlib code only as far as importing it runs (module
    and class bodies)."""
    functions = not code.co_filename.startswith(_STDLIB)
    imports, strings = [], []
    _walk(code, functions, imports, strings if functions else None)
    return tuple(imports), tuple(strings)


# The ASCII characters that `encodings.normalize_encoding` does not keep,
# mapped to spaces (see `_normalize_encoding`).
_NOT_KEPT = {c: " " for c in range(128) if not (chr(c).isalnum() or chr(c) == ".")}


def _normalize_encoding(name):
    """`encodings.normalize_encoding(name)`: each run of characters other
    than ASCII letters, digits and dots becomes one `_`, none at the ends;
    for an ASCII name with `str` methods instead of its Python loop over
    the characters (the scan normalises every short string constant)."""
    if name.isascii():
        return "_".join(name.translate(_NOT_KEPT).split())
    import encodings

    return encodings.normalize_encoding(name)


def _module_names(folders):
    """Every name that a module in `folders` may have (more, not fewer): each
    entry's name, and without a module suffix when it has one."""
    import os

    suffixes = SOURCE_SUFFIXES + BYTECODE_SUFFIXES + EXTENSION_SUFFIXES
    names = set()
    for folder in folders:
        try:
            entries = os.listdir(folder)
        except OSError:
            continue
        for entry in entries:
            names.add(entry)
            names.update(entry[: -len(suffix)] for suffix in suffixes if entry.endswith(suffix))
    return names


def _absolute(name, package, level):
    """The absolute module name of a relative import, or None."""
    if level == 0:
        return name
    parts = package.split(".") if package else []
    if not parts or level > len(parts):
        return None  # beyond the top-level package: importlib refuses it too
    base = ".".join(parts[: len(parts) - (level - 1)])
    return f"{base}.{name}" if name else base


class _Collector:
    def __init__(self, loaded):
        # The modules imported before bundling started: the app's. (Modules
        # the bundler imports for itself are dropped again at the end.)
        self.loaded = loaded
        self.found = {}  # name -> (is_package, origin, marshalled code), new modules
        self.known = {}  # name -> whether the module exists
        self.specs = {}  # name -> spec or None
        self.queue = []  # what to scan: (code or summary, package, is_summary)
        self.codec_modules = {}  # string constant -> its `_codec_module`
        self.codec_names = None  # `_module_names` of the encodings package

    def spec(self, name):
        """The spec of `name` on the build-time path, without importing its
        parents; None when there is no such module or it needs no bundling."""
        if name in self.specs:
            return self.specs[name]
        spec = None
        parent, _, _ = name.rpartition(".")
        if name in sys.builtin_module_names or _imp.is_frozen(name):
            spec = None
        elif not parent:
            spec = PathFinder.find_spec(name, sys.path)
        else:
            parent_spec = self.spec(parent)
            locations = None
            if parent in self.loaded:
                locations = getattr(sys.modules[parent], "__path__", None)
            elif parent_spec is not None:
                locations = parent_spec.submodule_search_locations
            if locations is not None:
                spec = PathFinder.find_spec(name, list(locations))
        self.specs[name] = spec
        return spec

    def add(self, name):
        """Bundle module `name` (and its parents) unless it is imported
        already, built in or frozen. Returns whether the module exists."""
        if name not in self.known:
            self.known[name] = False  # while looking: no cycles
            self.known[name] = self._add(name)
        return self.known[name]

    def _add(self, name):
        if name in self.loaded or name in sys.builtin_module_names or _imp.is_frozen(name):
            return True
        if name in _FROZEN_ALIASES:
            return False
        parent = name.rpartition(".")[0]
        if parent and not self.add(parent):
            return False
        spec = self.spec(name)
        if spec is None:
            return False
        is_package = spec.submodule_search_locations is not None
        if isinstance(spec.loader, SourceFileLoader):
            try:
                code = compile_source(spec, name)
            except (OSError, SyntaxError, ValueError) as error:
                print(f"warning: not bundled: {name} ({error})", file=sys.stderr)
                return False
        elif spec.origin in (None, "namespace"):
            code = compile("", f"<namespace package {name}>", "exec")
            spec.origin = None
        else:
            return False
        self.found[name] = (is_package, spec.origin, marshal.dumps(code))
        self.queue.append((code, name if is_package else parent, False))
        return True

    def scan(self, code, package):
        self.scan_summary(_summary(code), package)

    def scan_summary(self, summary, package):
        """Bundle what a module's `_summary` names (`package`: the package
        its relative imports are relative to)."""
        imports, strings = summary
        self.codecs(strings)
        for name, fromlist, level in imports:
            target = _absolute(name, package, level)
            if target is None:
                continue
            parts = target.split(".")
            for i in range(1, len(parts) + 1):
                if not self.add(".".join(parts[:i])):
                    break
            else:
                for item in fromlist or ():
                    if isinstance(item, str) and item != "*":
                        self.add(f"{target}.{item}")

    def codecs(self, strings):
        """Bundle the codecs that `strings` (a module's short string
        constants) name, as in `text.encode("punycode")`: an encoding is
        looked up by name at run time, by C code."""
        for const in strings:
            module = self.codec_modules.get(const, False)
            if module is False:
                module = self.codec_modules[const] = self._codec_module(const)
            if module is not None:
                self.add(module)

    def _codec_module(self, const):
        """`encodings.<name>` for the codec that `const` names, as
        `encodings.search_function` finds it; None when the encodings
        package has nothing by that name (no lookup needed then)."""
        from encodings.aliases import aliases

        if self.codec_names is None:
            import encodings

            self.codec_names = _module_names(encodings.__path__)
        name = _normalize_encoding(const).lower()
        name = aliases.get(name, name)
        return f"encodings.{name}" if name.isidentifier() and name in self.codec_names else None

    def drain(self):
        while self.queue:
            item, package, is_summary = self.queue.pop()
            if is_summary:
                self.scan_summary(item, package)
            else:
                self.scan(item, package)

    def add_tree(self, name):
        """`name` and, for a package, every module below it."""
        if not self.add(name):
            raise ImportError(
                f"--bundle-package {name}: no module named {name!r} on the Python path"
            )
        locations = None
        if name in self.loaded:
            locations = getattr(sys.modules[name], "__path__", None)
        elif self.found.get(name, (False,))[0]:
            locations = self.spec(name).submodule_search_locations
        for location in sorted(locations or ()):
            self.add_folder(location, name + ".")

    def add_folder(self, folder, prefix):
        import os

        try:
            entries = sorted(os.listdir(folder))
        except OSError:
            return
        for entry in entries:
            path = os.path.join(folder, entry)
            if entry.endswith(".py") and entry != "__init__.py":
                stem = entry[:-3]
                if stem.isidentifier():
                    self.add(prefix + stem)
            elif entry.isidentifier() and os.path.isdir(path):
                if os.path.isfile(os.path.join(path, "__init__.py")):
                    self.add_tree(prefix + entry)


# `SourceLoader.source_to_code` with `annotation_flags`. Compiled under the
# file name of importlib's own frames, so that import tracebacks (a
# SyntaxError, an exception in the app's module body) lose this frame
# together with importlib's, as they would without it.
_SOURCE_TO_CODE = """
def source_to_code(self, data, path, *, _optimize=-1):
    return _call_with_frames_removed(
        compile, data, path, "exec", flags=flags(path), dont_inherit=True, optimize=_optimize
    )
"""


def before_import():
    """What the registry of the bindings calls last, before the runtime
    imports the app (added by the compiler, compiler/src/componentize.rs),
    in every `--bundle` mode: the app's sources get deferred annotations
    (`defer_annotations`), and `dataclasses` compiles each distinct
    generated method source once (`_compile_once`, until `collect`)."""
    defer_annotations()
    _compile_once(True)


def defer_annotations():
    """Compile the sources that imports load from the `-p` folders from now
    on with deferred annotations (`from __future__ import annotations`), the
    closest CPython 3.11 comes to 3.14's lazy annotations (PEP 649), which
    upstream componentize-py 0.25.1's apps may rely on: an annotation naming
    something defined later, or never imported, is not evaluated when its
    function or class is defined. `before_import` calls it; the byte-code
    pre-pass
    (compiler/src/bytecode.py) and `_Collector._add` compile with the same
    flags."""
    from _frozen_importlib import _call_with_frames_removed

    if getattr(SourceLoader.source_to_code, "defers_annotations", False):
        return
    scope = {"_call_with_frames_removed": _call_with_frames_removed, "flags": annotation_flags}
    exec(compile(_SOURCE_TO_CODE, "<frozen importlib._bootstrap_external>", "exec"), scope)
    source_to_code = scope["source_to_code"]
    source_to_code.defers_annotations = True
    SourceLoader.source_to_code = source_to_code


# name -> (source path, `_summary` of the code that importing the module
# compiled), for the modules outside the stdlib (`record_code`); emptied by
# `collect`.
_RECORDED = {}


# `dataclasses`' generated method source -> its code, while the app is
# imported (`_compile_once`); emptied by `collect`.
_GENERATED = {}


def _exec_once(source, globals=None, locals=None, /):
    """`exec` for `dataclasses` while the app is imported: its
    `_create_fn` builds each method of a `@dataclass` by `exec` of
    generated source, which is the same text for every class with the same
    field names (the class is not named in it), so each distinct text is
    compiled once and its code executed again. What `exec` of the text
    does, with the same compiler flags (none: dataclasses has no
    `__future__` imports; `dont_inherit` keeps this module's out), file
    name and globals: the functions made differ only in sharing code
    objects."""
    if type(source) is str and globals is not None and locals is not None:
        code = _GENERATED.get(source)
        if code is None:
            code = _GENERATED[source] = compile(source, "<string>", "exec", dont_inherit=True)
        return exec(code, globals, locals)
    if globals is None:
        # As `exec` without globals: the caller's namespaces.
        frame = sys._getframe(1)
        globals = frame.f_globals
        if locals is None:
            locals = frame.f_locals
    return exec(source, globals, locals)


def _compile_once(on):
    """Let `dataclasses` (if imported) use `_exec_once` (`on`) or the
    built-in `exec` again (not `on`)."""
    dataclasses = sys.modules.get("dataclasses")
    if dataclasses is None:
        return
    names = vars(dataclasses)
    if on and "exec" not in names:
        dataclasses.exec = _exec_once
    elif not on and names.get("exec") is _exec_once:
        del dataclasses.exec
    if not on:
        _GENERATED.clear()


def record_code():
    """Note what the scan needs of the code that imports compile from now on
    (runtime/init.c calls it before importing the app, in `reachable` mode),
    so that `_scan_imported` need not compile the app's sources a second
    time. Only the summaries are kept, not the code. Ends in `collect`."""
    original = SourceLoader.get_code

    def get_code(self, fullname):
        code = original(self, fullname)
        if code is not None and not code.co_filename.startswith(_STDLIB):
            _RECORDED[fullname] = (self.path, _summary(code))
        return code

    get_code.original = original
    SourceLoader.get_code = get_code


def _stop_recording():
    _compile_once(False)
    original = getattr(SourceLoader.get_code, "original", None)
    if original is not None:
        SourceLoader.get_code = original
    recorded = dict(_RECORDED)
    _RECORDED.clear()
    return recorded


def _scan_imported(collector, recorded):
    """Queue the code of every module imported so far that is not the
    stdlib's: the app, its dependencies and the bindings (the code the
    import compiled, when recorded; else compiled again)."""
    for name in sorted(collector.loaded - {__name__}):
        module = sys.modules[name]
        spec = getattr(module, "__spec__", None)
        if spec is None or not isinstance(spec.loader, SourceFileLoader):
            continue
        if spec.origin.startswith(_STDLIB):
            continue
        path, summary = recorded.get(name, (None, None))
        package = name if hasattr(module, "__path__") else name.rpartition(".")[0]
        if summary is not None and path == spec.origin:
            collector.queue.append((summary, package, True))
            continue
        try:
            code = compile_source(spec, name)
        except (OSError, SyntaxError, ValueError):
            code = None
        if code is not None:
            collector.queue.append((code, package, False))


def collect(mode, packages):
    """Fill `_MODULES` for `mode` and the packages named in `packages`
    (comma-separated; see the module docstring) and install the finder.
    Returns the number of modules bundled and their size in bytes."""
    packages = [name for name in packages.split(",") if name]
    recorded = _stop_recording()
    if mode not in ("imported", "reachable", "all"):
        raise ValueError(f"unknown bundle mode {mode!r}")
    before = set(sys.modules)
    import opcode

    if any(opcode.opmap[name] != value for name, value in _OPCODES.items()):
        raise RuntimeError("bundle.py does not know this Python version's opcodes")
    collector = _Collector(before)
    if mode == "reachable":
        _scan_imported(collector, recorded)
        for name in _IMPLICIT:
            collector.add(name)
    for package in packages:
        collector.add_tree(package)
    if mode == "all":
        for folder in sys.path:
            collector.add_folder(folder, "")
    if mode == "reachable":
        collector.drain()
        for module, implicit in _IMPLICIT_WITH.items():
            if module in before or module in collector.found:
                collector.add(implicit)
        collector.drain()
    else:
        collector.queue.clear()
    if mode == "reachable" and "asyncio" in collector.found:
        # Imported at run time: `_use_poll_loop` imports `poll_loop` then.
        collector.add("poll_loop")
        collector.drain()
    for name in sorted(collector.found):
        _MODULES[name] = collector.found[name]
    # Modules this function imported for itself are not the app's.
    for name in set(sys.modules) - before:
        del sys.modules[name]
    if "asyncio" in sys.modules:
        _use_poll_loop()
    # The build-time folders do not exist at run time: with an empty path the
    # path finder looks nowhere for a top-level module that is not bundled
    # (only a submodule of a package imported while building is looked for
    # in that package's build-time folder, which fails at once).
    sys.path.clear()
    index = next(
        (i for i, finder in enumerate(sys.meta_path) if finder is PathFinder),
        len(sys.meta_path),
    )
    sys.meta_path.insert(index, BundleFinder)
    return len(_MODULES), sum(len(entry[2]) for entry in _MODULES.values())
