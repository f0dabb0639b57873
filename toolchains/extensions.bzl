"""Module extension `componentize`: the compiler and runtime toolchains from local folders.

    componentize = use_extension("@rules_componentize_py//toolchains:extensions.bzl", "componentize")
    componentize.toolchain(compiler = "...", runtime = "...")   # optional; root module wins
"""

load(":repositories.bzl", "DEFAULT_COMPILER", "DEFAULT_RUNTIME", "componentize_py_local_toolchains")

_toolchain = tag_class(
    doc = "Local paths of the compiler and the runtime. Relative paths are taken from the root of the module that gives the tag.",
    attrs = {
        "compiler": attr.string(default = DEFAULT_COMPILER),
        "runtime": attr.string(default = DEFAULT_RUNTIME),
    },
)

def _componentize_impl(mctx):
    # The root module's tag wins, then this module's own (its default).
    chosen = None
    for mod in mctx.modules:
        if not mod.tags.toolchain:
            continue
        if mod.is_root:
            chosen = (mod, mod.tags.toolchain[0])
            break
        if mod.name == "rules_componentize_py" and chosen == None:
            chosen = (mod, mod.tags.toolchain[0])
    if chosen == None:
        compiler, runtime, anchor = DEFAULT_COMPILER, DEFAULT_RUNTIME, Label("//:MODULE.bazel")
    else:
        mod, tag = chosen
        compiler, runtime = tag.compiler, tag.runtime
        anchor = Label("@@//:MODULE.bazel") if mod.is_root else Label("//:MODULE.bazel")
    componentize_py_local_toolchains(
        name = "componentize_py_toolchains",
        compiler = compiler,
        runtime = runtime,
        anchor = anchor,
    )

componentize = module_extension(
    implementation = _componentize_impl,
    tag_classes = {"toolchain": _toolchain},
)
