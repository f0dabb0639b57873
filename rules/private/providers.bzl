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
        "precompiled": "File: the component compiled ahead of time for the exec platform (`componentize-py precompile`), what py_wasm_test runs",
        "precompiled_for_timeout": "File: the same, compiled for runs with --timeout (`precompile --for-timeout`)",
        "wit": "WitInfo of the world's WIT",
        "world": "string: the world name given (may be '')",
        "app": "string: the app module",
        "python_srcs": "depset of File: the Python sources compiled in",
    },
)

ComponentizePyCompilerInfo = provider(
    doc = "The componentize-py compiler (provided by the compiler toolchain).",
    fields = {
        "compiler": "FilesToRunProvider: the componentize-py executable (None when `missing`)",
        "missing": "string: why the compiler is not there and how to set it ('' when it is); the rules then fail at execution with it",
    },
)

ComponentizePyRuntimeInfo = provider(
    doc = "The CPython-for-WASI interpreter module and its stdlib (provided by the runtime toolchain).",
    fields = {
        "interpreter": "File: interpreter.wasm (worlds without async)",
        "files": "depset of File: runtime/interpreter.wasm, runtime/interpreter-async.wasm (when there is one: worlds with async functions need it) and the stdlib under runtime/python/lib/python3.X",
        "toolchain_dir": "string: execroot-relative folder holding runtime/interpreter.wasm and runtime/python/, passed as --toolchain",
        "missing": "string: the tools missing to build the interpreter and how to set them ('' when none is)",
    },
)

WasiCcInfo = provider(
    doc = "A C toolchain for wasm32-wasi: clang, wasm-ld, a WASI sysroot and compiler-rt (provided by the wasi_cc toolchain).",
    fields = {
        "clang": "File: the clang driver (compiles with --target=wasm32-wasi)",
        "wasm_ld": "File: wasm-ld",
        "version": "string: `clang --version`'s first line; part of every action key",
        "clang_include": "string: execroot-relative folder of clang's own headers (stddef.h, ...)",
        "sysroot_include": "string: execroot-relative folder of the sysroot's wasm32-wasip1 headers",
        "sysroot_lib": "string: execroot-relative folder of the sysroot's wasm32-wasip1 libraries and crt1-*.o",
        "builtins": "File: compiler-rt's libclang_rt.builtins-wasm32.a",
        "compile_files": "depset of File: every header a compile may read",
        "link_files": "depset of File: every library a link may read",
        "prefix_maps": "list of (execroot-relative folder, stable name): for -ffile-prefix-map, so that outputs do not name repository folders",
        "missing": "string: which tool is missing and how to set it ('' when all are there); the rules then fail at execution with it",
    },
)

CPythonInfo = provider(
    doc = "CPython built for wasm32-wasi: headers, static libraries and the stdlib (provided by the CPython toolchain).",
    fields = {
        "version": "string: `3.11`",
        "include": "string: execroot-relative folder holding Python.h",
        "headers": "depset of File: the headers under `include`",
        "libs": "list of File: libpython3.X.a, then the libraries it needs (libmpdec.a, libexpat.a)",
        "stdlib": "list of File: the stdlib's files (no byte code)",
        "stdlib_root": "string: execroot-relative folder of the stdlib (`.../lib/python3.X`)",
        "prefix_maps": "list of (execroot-relative folder, stable name), as in WasiCcInfo",
        "missing": "string: what is missing and how to set it ('' when CPython is there); the rules then fail at execution with it",
    },
)
