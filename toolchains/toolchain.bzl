"""Rules declaring the componentize-py toolchains' contents."""

load("//rules/private:providers.bzl", "ComponentizePyCompilerInfo", "ComponentizePyRuntimeInfo")

def _compiler_toolchain_impl(ctx):
    return [platform_common.ToolchainInfo(
        componentize_py = ComponentizePyCompilerInfo(compiler = ctx.attr.compiler[DefaultInfo].files_to_run),
    )]

componentize_py_compiler_toolchain = rule(
    implementation = _compiler_toolchain_impl,
    doc = "The componentize-py compiler, for toolchain(toolchain_type = //toolchains:compiler_toolchain_type).",
    attrs = {
        "compiler": attr.label(executable = True, cfg = "exec", allow_files = True, mandatory = True),
    },
)

def _runtime_toolchain_impl(ctx):
    interpreter = ctx.file.interpreter
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
        ),
    )]

componentize_py_runtime_toolchain = rule(
    implementation = _runtime_toolchain_impl,
    doc = """The interpreter module and stdlib, for toolchain(toolchain_type = //toolchains:runtime_toolchain_type).

`interpreter` is `runtime/interpreter.wasm`; `srcs` are the stdlib's files
under `runtime/python/lib/python3.X/`. The folder above `runtime/` is passed to
the compiler as --toolchain.""",
    attrs = {
        "interpreter": attr.label(allow_single_file = [".wasm"], mandatory = True),
        "srcs": attr.label_list(allow_files = True),
    },
)
