"""py_wasm_bindings: the `wit_world` package of a world, for mypy and IDEs."""

load(":providers.bzl", "WitInfo")
load(":missing.bzl", "fail_at_execution")
load(":py_wasm_component.bzl", "COMPILER_TOOLCHAIN_TYPE", "stage_wit")

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
    args.add("--wit-path", wit_dir)
    for w in ([ctx.attr.world] if ctx.attr.world else []) + ctx.attr.extra_worlds:
        args.add("--world", w)
    args.add_all(ctx.attr.wit_features, before_each = "--features")
    if ctx.attr.all_features:
        args.add("--all-features")
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
    attrs = {
        "wit": attr.label(providers = [WitInfo], mandatory = True, doc = "the wit_library defining the world"),
        "world": attr.string(doc = "the world (as py_wasm_component's `world`)"),
        "extra_worlds": attr.string_list(doc = "further worlds merged into `world`"),
        "wit_features": attr.string_list(doc = "WIT @unstable feature gates to enable (--features)"),
        "all_features": attr.bool(doc = "enable every WIT @unstable feature gate"),
    },
    toolchains = [COMPILER_TOOLCHAIN_TYPE],
)
