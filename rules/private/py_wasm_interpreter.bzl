"""py_wasm_interpreter: the interpreter module (runtime C + CPython, a wasm32-wasi reactor) and its pruned stdlib.

The Bazel counterpart of cpython/build-interpreter.sh (docs/internals.md,
section 1). The flag lists below duplicate that script's: keep them in step
with it.
"""

load(":missing.bzl", "fail_at_execution")
load(":providers.bzl", "ComponentizePyRuntimeInfo")

WASI_CC_TOOLCHAIN_TYPE = "//toolchains:wasi_cc_toolchain_type"
CPYTHON_TOOLCHAIN_TYPE = "//toolchains:cpython_toolchain_type"
COMPILER_TOOLCHAIN_TYPE = "//toolchains:compiler_toolchain_type"

# CPython 3.11's sys.implementation.cache_tag (the pycs' file names).
CACHE_TAG = "cpython-311"

# cpython/build-interpreter.sh: cflags (the -isystem/-I/-ffile-prefix-map
# entries are added per toolchain below).
COPTS = [
    "--target=wasm32-wasi",
    "-O2",
    "-g0",
    "-nostdinc",
    "-D_WASI_EMULATED_SIGNAL",
    "-D_WASI_EMULATED_GETPID",
    "-D_WASI_EMULATED_PROCESS_CLOCKS",
    "-fno-ident",
    "-Wall",
    "-Wextra",
    "-Wno-unused-parameter",
    "-Wno-missing-field-initializers",
    "-Werror=implicit-function-declaration",
]

# cpython/build-interpreter.sh: the wasm-ld line after the inputs.
SYSTEM_LIBS = [
    "-lc",
    "-lm",
    "-ldl",
    "-lwasi-emulated-signal",
    "-lwasi-emulated-getpid",
    "-lwasi-emulated-process-clocks",
]
LINKOPTS = [
    "--entry=_initialize",
    "--export-table",
    "--growable-table",
    "--export=__stack_pointer",
    "--export=componentize_py_bindings_data",
    "--wrap=__imported_wasi_snapshot_preview1_path_filestat_get",
    "--wrap=__imported_wasi_snapshot_preview1_fd_filestat_get",
    "--wrap=__imported_wasi_snapshot_preview1_fd_readdir",
    "--wrap=__imported_wasi_snapshot_preview1_path_open",
    "--wrap=free",
    "--wrap=realloc",
    "-z",
    "stack-size=8388608",
]

# cpython/build-interpreter.sh, "stdlib": what no component can use (tests,
# GUIs, installers, the build configuration, byte code, lib-dynload's copies).
STDLIB_PRUNED_DIRS = [
    "test",
    "idlelib",
    "tkinter",
    "turtledemo",
    "ensurepip",
    "lib2to3",
    "config-3.11-wasm32-wasi",
    "lib-dynload",
    "site-packages",
    "distutils/tests",
    "ctypes/test",
    "unittest/test",
    "sqlite3/test",
]
STDLIB_PRUNED_FILES = ["turtle.py"]

def _keep_stdlib_file(rel):
    if rel in STDLIB_PRUNED_FILES or rel.endswith(".pyc") or "__pycache__" in rel.split("/"):
        return False
    for d in STDLIB_PRUNED_DIRS:
        if rel.startswith(d + "/"):
            return False
    return True

def _prefix_map_flags(maps):
    # With trailing slashes, so that `external/a` does not match `external/ab/...`.
    return ["-ffile-prefix-map=%s/=%s/" % (path, name) for path, name in maps]

def _compile(ctx, cc, srcs, copts, compile_inputs, env, obj_dir, what):
    """One WasiCcCompile per .c file of `srcs`, into `<name>/<obj_dir>/`; returns the objects."""
    objs = []
    for src in srcs:
        obj = ctx.actions.declare_file("%s/%s/%s.o" % (ctx.label.name, obj_dir, src.basename[:-len(".c")]))
        args = ctx.actions.args()
        args.add_all(copts)
        args.add("-c", src)
        args.add("-o", obj)
        ctx.actions.run(
            executable = cc.clang,
            arguments = [args],
            inputs = depset([src], transitive = [compile_inputs]),
            outputs = [obj],
            env = env,
            mnemonic = "WasiCcCompile",
            progress_message = "Compiling %s for wasm32-wasi (%s)" % (src.short_path, what),
            toolchain = WASI_CC_TOOLCHAIN_TYPE,
        )
        objs.append(obj)
    return objs

def _link(ctx, cc, py, crt1, objs, wasm, env):
    """The WasiLink of `objs` with CPython into the reactor module `wasm`."""
    args = ctx.actions.args()
    args.add(crt1)
    args.add_all(objs)
    args.add_all(py.libs)
    args.add("-L" + cc.sysroot_lib)
    args.add_all(SYSTEM_LIBS)
    args.add(cc.builtins)
    args.add_all(LINKOPTS)
    args.add_all(ctx.attr.linkopts)
    args.add("--strip-debug")
    args.add("-o", wasm)
    ctx.actions.run(
        executable = cc.wasm_ld,
        arguments = [args],
        inputs = depset(objs + py.libs, transitive = [cc.link_files]),
        outputs = [wasm],
        env = env,
        mnemonic = "WasiLink",
        progress_message = "Linking the interpreter module %{output}",
        toolchain = WASI_CC_TOOLCHAIN_TYPE,
    )

def _compile_stdlib(ctx, compiler, wasm, stdlib, stdlib_dir, sources):
    """The `CompileStdlib` action, as scripts/setup.sh's step 4b: a pyc of each
    stdlib source (`sources`: paths below `stdlib_dir`),
    `<folder>/__pycache__/<stem>.cpython-311.pyc`, made by the interpreter
    module `wasm` (`componentize-py compile-stdlib`); returns the pycs."""
    pycs = []
    for rel in sources:
        folder, _, name = rel.rpartition("/")
        pyc = "__pycache__/%s.%s.pyc" % (name[:-len(".py")], CACHE_TAG)
        pycs.append(ctx.actions.declare_file("/".join([p for p in [stdlib_dir, folder, pyc] if p])))
    if compiler.missing:
        fail_at_execution(ctx, pycs, compiler.missing, "CompileStdlib")
        return pycs
    args = ctx.actions.args()
    args.add("compile-stdlib")
    args.add(wasm.dirname.rpartition("/")[0])
    ctx.actions.run(
        executable = compiler.compiler,
        arguments = [args],
        # interpreter.wasm alone makes them: a change of async.c does not
        # make them again.
        inputs = [wasm] + stdlib,
        outputs = pycs,
        mnemonic = "CompileStdlib",
        progress_message = "Compiling the stdlib of %{label} to byte code",
        toolchain = COMPILER_TOOLCHAIN_TYPE,
    )
    return pycs

def _py_wasm_interpreter_impl(ctx):
    cc = ctx.toolchains[WASI_CC_TOOLCHAIN_TYPE].wasi_cc
    py = ctx.toolchains[CPYTHON_TOOLCHAIN_TYPE].cpython
    out_dir = ctx.label.name + "/runtime"

    srcs = [f for f in ctx.files.srcs if f.extension == "c"]
    hdrs = [f for f in ctx.files.srcs if f.extension == "h"]
    async_srcs = [f for f in ctx.files.async_srcs if f.extension == "c"]
    if not srcs:
        fail("%s: no .c files in srcs" % ctx.label)

    wasm = ctx.actions.declare_file(out_dir + "/interpreter.wasm")
    wasm_async = ctx.actions.declare_file(out_dir + "/interpreter-async.wasm")
    compiler = ctx.toolchains[COMPILER_TOOLCHAIN_TYPE].componentize_py
    missing = [m for m in [cc.missing, py.missing] if m]
    if missing:
        # A tool is missing: analysis goes on (targets that do not build the
        # interpreter are unaffected), the links fail with the message.
        fail_at_execution(ctx, [wasm, wasm_async], "\n".join(missing), "WasiLink")
        return [
            DefaultInfo(files = depset([wasm, wasm_async])),
            ComponentizePyRuntimeInfo(
                interpreter = wasm,
                files = depset([wasm, wasm_async]),
                toolchain_dir = wasm.dirname.rpartition("/")[0],
                missing = "\n".join(missing),
            ),
            OutputGroupInfo(interpreter = depset([wasm, wasm_async])),
        ]

    # Source folders of our own headers, and the repositories to name by a
    # stable name in __FILE__ (bzlmod and WORKSPACE name them differently).
    include_dirs = {f.dirname: True for f in hdrs}
    prefix_maps = cc.prefix_maps + py.prefix_maps
    own_roots = {f.owner.workspace_root: True for f in srcs + async_srcs if f.owner.workspace_root}
    prefix_maps = prefix_maps + [(r, ".") for r in own_roots]

    copts = COPTS + [
        "-isystem",
        cc.sysroot_include,
        "-isystem",
        cc.clang_include,
        "-I" + py.include,
    ] + ["-I" + d for d in include_dirs] + _prefix_map_flags(prefix_maps) + ctx.attr.copts

    # The compiler's version is part of the key (the binary Bazel hashes is
    # the driver; the code generator lives in a shared library).
    env = {"WASI_CC_VERSION": cc.version}
    compile_inputs = depset(hdrs, transitive = [cc.compile_files, py.headers])

    crt1 = [f for f in cc.link_files.to_list() if f.basename == "crt1-reactor.o"]
    if len(crt1) != 1:
        fail("%s: the WASI sysroot has no crt1-reactor.o" % ctx.label)

    # Two interpreters, as cpython/build-interpreter.sh links them: the one
    # every world without async uses, from `srcs` alone, and the one for
    # worlds with async functions, from `srcs` and `async_srcs` compiled with
    # -DCOMPONENTIZE_PY_ASYNC (docs/internals.md, section 6).
    # The objects in the script's order (sorted by file name: `ls runtime/*.c`),
    # so that the links give the script's bytes.
    objs = _compile(ctx, cc, srcs, copts, compile_inputs, env, "obj", wasm.basename)
    _link(ctx, cc, py, crt1[0], objs, wasm, env)
    all_srcs = sorted(srcs + async_srcs, key = lambda f: f.basename)
    async_copts = copts + ["-DCOMPONENTIZE_PY_ASYNC"]
    async_objs = _compile(ctx, cc, all_srcs, async_copts, compile_inputs, env, "obj-async", wasm_async.basename)
    _link(ctx, cc, py, crt1[0], async_objs, wasm_async, env)

    # The pruned stdlib, copied (not symlinked: pre-initialisation reads it
    # inside the WASI sandbox, which does not follow symlinks out of the
    # folder) next to the interpreter, at runtime/python/lib/python3.X/.
    # expand_template without substitutions copies in-process, byte for byte.
    prefix = py.stdlib_root + "/"
    stdlib_dir = "%s/python/lib/python%s" % (out_dir, py.version)
    stdlib = []
    sources = []
    for f in py.stdlib:
        if not f.path.startswith(prefix):
            fail("%s: stdlib file %s is not under %s" % (ctx.label, f.path, py.stdlib_root))
        rel = f.path[len(prefix):]
        if not _keep_stdlib_file(rel):
            continue
        copy = ctx.actions.declare_file(stdlib_dir + "/" + rel)
        ctx.actions.expand_template(template = f, output = copy, substitutions = {})
        stdlib.append(copy)
        if rel.endswith(".py"):
            sources.append(rel)
    pycs = _compile_stdlib(ctx, compiler, wasm, stdlib, stdlib_dir, sources)

    return [
        DefaultInfo(files = depset([wasm, wasm_async] + stdlib + pycs)),
        ComponentizePyRuntimeInfo(
            interpreter = wasm,
            files = depset([wasm, wasm_async] + stdlib + pycs),
            toolchain_dir = wasm.dirname.rpartition("/")[0],
            missing = "",
        ),
        OutputGroupInfo(interpreter = depset([wasm, wasm_async])),
    ]

py_wasm_interpreter = rule(
    implementation = _py_wasm_interpreter_impl,
    doc = """Compile the runtime's C files and link them with CPython into the interpreter module.

Outputs `<name>/runtime/interpreter.wasm` (a wasm32-wasi reactor, see
docs/internals.md section 1), `<name>/runtime/interpreter-async.wasm` (the
same with the async ABI, for worlds with async functions) and the pruned
stdlib under `<name>/runtime/python/lib/python3.X/`; provides
ComponentizePyRuntimeInfo, which componentize_py_runtime_toolchain(runtime =
...) hands to py_wasm_component. Actions: one `WasiCcCompile` per .c file of
`srcs` and one `WasiLink` for interpreter.wasm; one `WasiCcCompile` per .c
file of `srcs` and `async_srcs` and one `WasiLink` for interpreter-async.wasm; one
`CompileStdlib` (`componentize-py compile-stdlib`) for the stdlib's byte code,
`__pycache__/<stem>.cpython-311.pyc` beside each source.
Uses the toolchains //toolchains:wasi_cc_toolchain_type,
//toolchains:cpython_toolchain_type and //toolchains:compiler_toolchain_type.""",
    attrs = {
        "srcs": attr.label_list(allow_files = [".c", ".h"], mandatory = True, doc = "the runtime's .c and .h files"),
        "async_srcs": attr.label_list(allow_files = [".c"], doc = "the .c files only the async interpreter holds (runtime/async.c)"),
        "copts": attr.string_list(doc = "extra clang flags"),
        "linkopts": attr.string_list(doc = "extra wasm-ld flags"),
    },
    toolchains = [WASI_CC_TOOLCHAIN_TYPE, CPYTHON_TOOLCHAIN_TYPE, COMPILER_TOOLCHAIN_TYPE],
    provides = [ComponentizePyRuntimeInfo],
)
