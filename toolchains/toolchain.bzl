"""Rules declaring the componentize-py toolchains' contents."""

load("//rules/private:providers.bzl", "CPythonInfo", "ComponentizePyCompilerInfo", "ComponentizePyRuntimeInfo", "WasiCcInfo")

def _compiler_toolchain_impl(ctx):
    if not ctx.attr.missing and not ctx.attr.compiler:
        fail("%s: give `compiler` or `missing`" % ctx.label)
    return [platform_common.ToolchainInfo(
        componentize_py = ComponentizePyCompilerInfo(
            compiler = ctx.attr.compiler[DefaultInfo].files_to_run if ctx.attr.compiler and not ctx.attr.missing else None,
            missing = ctx.attr.missing,
        ),
    )]

componentize_py_compiler_toolchain = rule(
    implementation = _compiler_toolchain_impl,
    doc = "The componentize-py compiler, for toolchain(toolchain_type = //toolchains:compiler_toolchain_type).",
    attrs = {
        "compiler": attr.label(executable = True, cfg = "exec", allow_files = True),
        "missing": attr.string(doc = "set when the compiler is not there: the message the rules fail with at execution"),
    },
)

def _runtime_toolchain_impl(ctx):
    if ctx.attr.runtime:
        if ctx.attr.interpreter or ctx.attr.srcs:
            fail("%s: give either `runtime` or `interpreter` + `srcs`" % ctx.label)
        return [platform_common.ToolchainInfo(componentize_py_runtime = ctx.attr.runtime[ComponentizePyRuntimeInfo])]
    interpreter = ctx.file.interpreter
    if not interpreter:
        fail("%s: give `runtime` (a py_wasm_interpreter) or `interpreter`" % ctx.label)

    # The compiler's --toolchain folder holds runtime/interpreter.wasm and
    # runtime/python/lib/python3.X.
    parent, _, runtime_dir = interpreter.dirname.rpartition("/")
    if runtime_dir != "runtime" or interpreter.basename != "interpreter.wasm":
        fail("%s: the interpreter must be runtime/interpreter.wasm (the compiler's --toolchain layout), got %s" % (ctx.label, interpreter.path))
    return [platform_common.ToolchainInfo(
        componentize_py_runtime = ComponentizePyRuntimeInfo(
            interpreter = interpreter,
            files = depset([interpreter] + ctx.files.srcs),
            toolchain_dir = parent,
            missing = "",
        ),
    )]

componentize_py_runtime_toolchain = rule(
    implementation = _runtime_toolchain_impl,
    doc = """The interpreter module and stdlib, for toolchain(toolchain_type = //toolchains:runtime_toolchain_type).

Either `runtime`, a py_wasm_interpreter built by Bazel, or prebuilt files:
`interpreter` is `runtime/interpreter.wasm` and `srcs` are the stdlib's files
under `runtime/python/lib/python3.X/`. The folder above `runtime/` is passed
to the compiler as --toolchain.""",
    attrs = {
        "runtime": attr.label(providers = [ComponentizePyRuntimeInfo], doc = "a py_wasm_interpreter"),
        "interpreter": attr.label(allow_single_file = [".wasm"]),
        "srcs": attr.label_list(allow_files = True),
    },
)

def _package_path(label, rel):
    """The execroot-relative path of `rel`, a folder in `label`'s package."""
    return "/".join([p for p in [label.workspace_root, label.package, rel] if p])

def _wasi_cc_toolchain_impl(ctx):
    _path = lambda rel: _package_path(ctx.label, rel)
    if ctx.attr.missing:
        return [platform_common.ToolchainInfo(wasi_cc = WasiCcInfo(
            clang = None,
            wasm_ld = None,
            version = "",
            clang_include = "",
            sysroot_include = "",
            sysroot_lib = "",
            builtins = None,
            compile_files = depset(),
            link_files = depset(),
            prefix_maps = [],
            missing = ctx.attr.missing,
        ))]

    return [platform_common.ToolchainInfo(
        wasi_cc = WasiCcInfo(
            clang = ctx.executable.clang,
            wasm_ld = ctx.executable.wasm_ld,
            version = ctx.attr.version,
            clang_include = _path(ctx.attr.clang_include_dir),
            sysroot_include = _path(ctx.attr.sysroot_include_dir),
            sysroot_lib = _path(ctx.attr.sysroot_lib_dir),
            builtins = ctx.file.builtins,
            compile_files = depset(ctx.files.clang_headers + ctx.files.sysroot_headers),
            link_files = depset(ctx.files.sysroot_libs + [ctx.file.builtins]),
            # The names cpython/build-interpreter.sh's outputs carry.
            prefix_maps = [
                (_path(ctx.attr.sysroot_include_dir), "/toolchain/wasi-libc/usr/include/wasm32-wasip1"),
                (_path(ctx.attr.clang_include_dir), ctx.attr.clang_include_name),
            ],
            missing = "",
        ),
    )]

wasi_cc_toolchain = rule(
    implementation = _wasi_cc_toolchain_impl,
    doc = """clang, wasm-ld, a WASI sysroot and compiler-rt, for toolchain(toolchain_type = //toolchains:wasi_cc_toolchain_type).

Folders are relative to this target's package. With `missing`, nothing else
is needed: the interpreter's actions fail with that message.""",
    attrs = {
        "missing": attr.string(doc = "set when a tool is not there: the message the rules fail with at execution"),
        "clang": attr.label(executable = True, cfg = "exec", allow_single_file = True),
        "wasm_ld": attr.label(executable = True, cfg = "exec", allow_single_file = True),
        "version": attr.string(doc = "the compiler's version; changes every action key"),
        "clang_headers": attr.label_list(allow_files = True),
        "clang_include_dir": attr.string(),
        "clang_include_name": attr.string(default = "/clang/include", doc = "the name __FILE__ gives clang_include_dir"),
        "sysroot_headers": attr.label_list(allow_files = True),
        "sysroot_include_dir": attr.string(),
        "sysroot_libs": attr.label_list(allow_files = True),
        "sysroot_lib_dir": attr.string(),
        "builtins": attr.label(allow_single_file = [".a"]),
    },
)

def _cpython_toolchain_impl(ctx):
    ws = ctx.label.workspace_root
    _path = lambda rel: _package_path(ctx.label, rel)

    return [platform_common.ToolchainInfo(
        cpython = CPythonInfo(
            version = ctx.attr.version,
            include = _path(ctx.attr.include_dir),
            headers = depset(ctx.files.headers),
            libs = ctx.files.libs,
            stdlib = ctx.files.stdlib,
            stdlib_root = _path(ctx.attr.stdlib_dir),
            # The name cpython/build-interpreter.sh's outputs carry.
            prefix_maps = [(ws, "/toolchain/python")] if ws else [],
            missing = ctx.attr.missing,
        ),
    )]

cpython_toolchain = rule(
    implementation = _cpython_toolchain_impl,
    doc = """CPython for wasm32-wasi, for toolchain(toolchain_type = //toolchains:cpython_toolchain_type).

Folders are relative to this target's package. With `missing`, nothing else
is needed: the interpreter's actions fail with that message.""",
    attrs = {
        "missing": attr.string(doc = "set when CPython is not there: the message the rules fail with at execution"),
        "version": attr.string(default = "3.11"),
        "headers": attr.label_list(allow_files = True),
        "include_dir": attr.string(doc = "the folder holding Python.h"),
        "libs": attr.label_list(allow_files = [".a"], doc = "libpython3.X.a first, then libmpdec.a, libexpat.a"),
        "stdlib": attr.label_list(allow_files = True),
        "stdlib_dir": attr.string(doc = "the stdlib's folder (lib/python3.X)"),
    },
)
