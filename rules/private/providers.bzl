"""Providers of the componentize-py rules."""

WitInfo = provider(
    doc = "WIT packages: one package per wit_library, with everything it depends on.",
    fields = {
        "package": "string: this library's WIT package name (e.g. `example:hello`), or '' if not given",
        "label": "string: the wit_library's label",
        "srcs": "depset of File: this package's .wit files",
        "transitive_srcs": "depset of File, postorder (dependencies first): the .wit files of this package and all its deps",
        "transitive_packages": "depset of string, postorder: the WIT package names of this library and its deps (those given)",
        "this": "struct(label, package, srcs: tuple of File): this package",
        "deps": "depset of struct(label, package, srcs), postorder: the packages this one uses, transitively",
    },
)

PyWasmComponentInfo = provider(
    doc = "A WebAssembly component built from Python by py_wasm_component.",
    fields = {
        "component": "File: the .wasm component",
        "wit": "WitInfo of the world's WIT",
        "world": "string: the world name given (may be '')",
        "app": "string: the app module",
        "python_srcs": "depset of File: the Python sources compiled in",
    },
)

ComponentizePyCompilerInfo = provider(
    doc = "The componentize-py compiler (provided by the compiler toolchain).",
    fields = {
        "compiler": "FilesToRunProvider: the componentize-py executable",
    },
)

ComponentizePyRuntimeInfo = provider(
    doc = "The CPython-for-WASI interpreter module and its stdlib (provided by the runtime toolchain).",
    fields = {
        "interpreter": "File: interpreter.wasm",
        "files": "depset of File: runtime/interpreter.wasm and the stdlib under runtime/python/lib/python3.X",
        "toolchain_dir": "string: execroot-relative folder holding runtime/interpreter.wasm and runtime/python/, passed as --toolchain",
    },
)
