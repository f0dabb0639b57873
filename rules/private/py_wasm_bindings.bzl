"""py_wasm_bindings: the `wit_world` package of a world, for mypy and IDEs."""

load(":providers.bzl", "WitInfo")
load(":missing.bzl", "fail_at_execution")
load(":py_wasm_component.bzl", "COMPILER_TOOLCHAIN_TYPE", "stage_wit")
load(":wit_args.bzl", "WIT_ATTRS", "add_wit_args")

def _py_wasm_bindings_impl(ctx):
    compiler = ctx.toolchains[COMPILER_TOOLCHAIN_TYPE].componentize_py
    wit = ctx.attr.wit[WitInfo]
    wit_files, wit_dir = stage_wit(ctx, wit)
    out = ctx.actions.declare_directory(ctx.label.name)

    if compiler.missing:
        fail_at_execution(ctx, [out], compiler.missing, "WitBindings")
        return [DefaultInfo(files = depset([out]))]

    args = ctx.actions.args()
    args.add("--quiet")
    add_wit_args(args, ctx.attr, wit_dir)
    args.add("bindings")
    args.add_all([out], expand_directories = False)
    ctx.actions.run(
        executable = compiler.compiler,
        arguments = [args],
        inputs = wit_files,
        outputs = [out],
        mnemonic = "WitBindings",
        progress_message = "Writing the Python bindings of %{label}",
        toolchain = COMPILER_TOOLCHAIN_TYPE,
    )
    return [
        DefaultInfo(files = depset([out])),
        OutputGroupInfo(bindings = depset([out])),
    ]

py_wasm_bindings = rule(
    implementation = _py_wasm_bindings_impl,
    doc = """Write the Python bindings of a world: `<name>/wit_world/` and `<name>/componentize_py_runtime.pyi`.

What the compiler generates into a component (`componentize-py bindings`),
for type checkers and editors: point mypy's `mypy_path` or the IDE's extra
paths at `bazel-bin/<package>/<name>`.""",
    attrs = WIT_ATTRS,
    toolchains = [COMPILER_TOOLCHAIN_TYPE],
)
