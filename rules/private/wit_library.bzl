"""wit_library: one WIT package."""

load(":providers.bzl", "WitInfo")

def _wit_library_impl(ctx):
    names = {}
    for f in ctx.files.srcs:
        if f.basename in names:
            fail("%s: two WIT files named %s; a package's files are placed side by side" % (ctx.label, f.basename))
        names[f.basename] = True
    deps = [d[WitInfo] for d in ctx.attr.deps]
    this = struct(
        label = str(ctx.label),
        package = ctx.attr.package,
        srcs = tuple(ctx.files.srcs),
    )
    return [
        DefaultInfo(files = depset(ctx.files.srcs)),
        WitInfo(
            package = ctx.attr.package,
            label = str(ctx.label),
            srcs = depset(ctx.files.srcs),
            transitive_srcs = depset(ctx.files.srcs, transitive = [d.transitive_srcs for d in deps], order = "postorder"),
            transitive_packages = depset(
                [ctx.attr.package] if ctx.attr.package else [],
                transitive = [d.transitive_packages for d in deps],
                order = "postorder",
            ),
            deps = depset(transitive = [depset([d.this], transitive = [d.deps]) for d in deps], order = "postorder"),
            this = this,
        ),
    ]

wit_library = rule(
    implementation = _wit_library_impl,
    doc = """One WIT package: its .wit files (all of the same package) and the WIT packages it uses.

A py_wasm_component using it places this package's files in one folder and
each (transitive) dependency in a folder under its `deps/`, the layout WIT
tools read as one package with its dependencies.""",
    attrs = {
        "srcs": attr.label_list(allow_files = [".wit"], mandatory = True, doc = ".wit files of one package"),
        "deps": attr.label_list(providers = [WitInfo], doc = "wit_library targets this package uses"),
        "package": attr.string(doc = "the WIT package name, e.g. `example:hello` (informational)"),
    },
    provides = [WitInfo],
)
