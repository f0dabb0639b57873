"""py_wasm_component: a Python app + a WIT world -> a WebAssembly component."""

load(":missing.bzl", "fail_at_execution")
load(":providers.bzl", "PyWasmComponentInfo", "WitInfo")
load(":python_path.bzl", "stage_pyinfo")
load(":wit_args.bzl", "WIT_ATTRS", "add_wit_args")

COMPILER_TOOLCHAIN_TYPE = "//toolchains:compiler_toolchain_type"
RUNTIME_TOOLCHAIN_TYPE = "//toolchains:runtime_toolchain_type"

# The Componentize action runs the compiler as a persistent, multiplexed
# worker speaking the proto worker protocol.
WORKER_EXECUTION_REQUIREMENTS = {
    "supports-workers": "1",
    "supports-multiplex-workers": "1",
    "requires-worker-protocol": "proto",
}

def _package_relative_path(f):
    """`f`'s path relative to the package of the target that owns it."""
    owner = f.owner
    prefix = "/".join([p for p in [owner.workspace_root, owner.package] if p])
    path = f.short_path
    if path.startswith("../"):
        path = "external/" + path[3:]
    if not prefix:
        return path
    if path.startswith(prefix + "/"):
        return path[len(prefix) + 1:]
    return f.basename

def _stage_python(ctx, files):
    """Copy the Python files into `<name>.pypath/`, at their package-relative paths."""
    folder = ctx.label.name + ".pypath"
    seen = {}
    staged = []
    for f in files:
        rel = _package_relative_path(f)
        if rel in seen:
            if seen[rel] != f.path:
                fail("%s: two Python files would be staged at %s: %s and %s (srcs and file deps are staged at their package-relative paths; a py_library dep keeps its path in the repository)" % (ctx.label, rel, seen[rel], f.path))
            continue
        seen[rel] = f.path
        out = ctx.actions.declare_file(folder + "/" + rel)

        # A copy, not a symlink: the compiler reads the Python path from
        # inside the WASI sandbox of pre-initialisation, which does not follow
        # symlinks out of the folder. expand_template with no substitutions
        # copies in-process: no shell, no tool, byte-for-byte.
        ctx.actions.expand_template(template = f, output = out, substitutions = {})
        staged.append(out)
    dir_path = "/".join([p for p in [ctx.bin_dir.path, ctx.label.workspace_root, ctx.label.package, folder] if p])
    return staged, dir_path

def stage_wit(ctx, wit):
    """Place the WIT package in `<name>.wit/` and each dependency in `<name>.wit/deps/<label>/`."""
    folder = ctx.label.name + ".wit"
    staged = []
    for f in wit.this.srcs:
        out = ctx.actions.declare_file(folder + "/" + f.basename)
        ctx.actions.symlink(output = out, target_file = f)
        staged.append(out)
    for dep in wit.deps.to_list():
        sub = dep.label.lstrip("@").replace("//", "_").replace("/", "_").replace(":", "_").replace("~", "_").lstrip("_")
        for f in dep.srcs:
            out = ctx.actions.declare_file(folder + "/deps/" + sub + "/" + f.basename)
            ctx.actions.symlink(output = out, target_file = f)
            staged.append(out)
    dir_path = "/".join([p for p in [ctx.bin_dir.path, ctx.label.workspace_root, ctx.label.package, folder] if p])
    return staged, dir_path

def _py_wasm_component_impl(ctx):
    compiler = ctx.toolchains[COMPILER_TOOLCHAIN_TYPE].componentize_py
    runtime = ctx.toolchains[RUNTIME_TOOLCHAIN_TYPE].componentize_py_runtime
    wit = ctx.attr.wit[WitInfo]

    # srcs and plain file deps (filegroups): at their package-relative paths
    # in <name>.pypath/, the first -p folder (like a py_binary's own folder).
    # Deps with PyInfo (py_library, ...): at their runfiles paths in
    # <name>.pyroot/, with py_binary's sys.path (python_path.bzl).
    py_files = [f for f in ctx.files.srcs]
    dep_files = []
    py_deps = []
    for d in ctx.attr.deps:
        if PyInfo in d:
            py_deps.append(d)
        else:
            dep_files.extend(d[DefaultInfo].files.to_list())
    staged, pypath = [], []
    if py_files or dep_files:
        staged, folder = _stage_python(ctx, py_files + dep_files)
        pypath.append(folder)
    pyinfo_staged, pyinfo_path, pyinfo_sources = stage_pyinfo(ctx, py_deps, ctx.attr.legacy_create_init)
    staged += pyinfo_staged
    pypath += pyinfo_path
    wit_files, wit_dir = stage_wit(ctx, wit)

    app = ctx.attr.app
    if not app:
        if len(ctx.files.srcs) != 1:
            fail("%s: `app` must be given when srcs is not exactly one file (e.g. app = \"lib.greeter\" for a module of a dep)" % ctx.label)
        app = ctx.files.srcs[0].basename[:-len(".py")]
    if not pypath:
        fail("%s: no Python files: give srcs or deps" % ctx.label)

    out = ctx.outputs.out if ctx.outputs.out else ctx.actions.declare_file(ctx.label.name + ".wasm")

    args = ctx.actions.args()
    args.use_param_file("@%s", use_always = True)
    args.set_param_file_format("multiline")
    args.add("--quiet")
    args.add("--toolchain", runtime.toolchain_dir)
    add_wit_args(args, ctx.attr, wit_dir)
    args.add("componentize")
    args.add(app)
    args.add_all(pypath, before_each = "--python-path")
    if ctx.attr.bundle != "reachable":
        args.add("--bundle", ctx.attr.bundle)
    args.add_all(ctx.attr.bundle_packages, before_each = "--bundle-package")
    if ctx.attr.stub_wasi:
        args.add("--stub-wasi")
    if ctx.attr.import_timeout:
        args.add("--import-timeout", ctx.attr.import_timeout)
    args.add("--output", out)

    # Compiled ahead of time for the exec platform (the test host), for
    # py_wasm_test: built only when a test (or the `precompiled` output
    # group) asks for it, cached like any action.
    # A run with --timeout needs code that checks for interruption: a
    # second file, built only for tests that set run_timeout.
    # Every missing tool at once, and nothing built before the failure.
    missing = "\n".join([m for m in [compiler.missing, runtime.missing] if m])
    if missing:
        fail_at_execution(ctx, [out], missing, "Componentize")
    else:
        _componentize(ctx, compiler, args, depset(staged + wit_files, transitive = [runtime.files]), out)
    precompiled, precompiled_for_timeout = precompile_outputs(ctx, compiler, out, missing)
    return [
        DefaultInfo(files = depset([out])),
        OutputGroupInfo(precompiled = depset([precompiled])),
        PyWasmComponentInfo(
            component = out,
            precompiled = precompiled,
            precompiled_for_timeout = precompiled_for_timeout,
            wit = wit,
            world = ctx.attr.world,
            app = app,
            python_srcs = depset(py_files + dep_files + pyinfo_sources),
        ),
    ]

def precompile_outputs(ctx, compiler, component, missing):
    """Declare `<name>.cwasm` and `<name>.timeout.cwasm`, `component` compiled for the exec platform without and with interruption checks (for `run_timeout`).

    Registers their `Precompile` actions, or, when `missing` names missing
    tools, actions that fail naming them. Returns the two files.
    """
    precompiled = ctx.actions.declare_file(ctx.label.name + ".cwasm")
    for_timeout = ctx.actions.declare_file(ctx.label.name + ".timeout.cwasm")
    for out, flags in [(precompiled, []), (for_timeout, ["--for-timeout"])]:
        if missing:
            fail_at_execution(ctx, [out], missing, "Precompile")
        else:
            precompile_action(ctx, compiler, component, out, flags)
    return precompiled, for_timeout

def precompile_action(ctx, compiler, component, out, flags):
    """Register the `Precompile` action: `component` compiled for the exec platform into `out`."""
    args = ctx.actions.args()
    args.add("precompile")
    args.add(component)
    args.add("--output", out)
    args.add_all(flags)
    ctx.actions.run(
        executable = compiler.compiler,
        arguments = [args],
        inputs = [component],
        outputs = [out],
        mnemonic = "Precompile",
        progress_message = "Precompiling %{label} for the test host",
        toolchain = COMPILER_TOOLCHAIN_TYPE,
    )

def _componentize(ctx, compiler, args, inputs, out):
    ctx.actions.run(
        executable = compiler.compiler,
        arguments = [args],
        inputs = inputs,
        outputs = [out],
        mnemonic = "Componentize",
        progress_message = "Componentizing %{label}",
        execution_requirements = WORKER_EXECUTION_REQUIREMENTS,
        toolchain = COMPILER_TOOLCHAIN_TYPE,
    )

py_wasm_component = rule(
    implementation = _py_wasm_component_impl,
    doc = """Compile a Python app and a WIT world into a WebAssembly component `<name>.wasm`.

The Python files of srcs (and of deps without PyInfo) are copied, at their
paths relative to their own package, into `<name>.pypath/`, the first `-p`
folder. Deps with PyInfo (py_library) are copied at their runfiles paths
into `<name>.pyroot/`, with the folders a py_binary has on sys.path as the
further `-p` folders: `PyInfo.imports`, then each repository's root. The compiler runs as a persistent multiplexed
worker (action mnemonic `Componentize`).""",
    attrs = dict(WIT_ATTRS, **{
        "srcs": attr.label_list(allow_files = [".py"], doc = "the app's Python files"),
        "deps": attr.label_list(allow_files = True, doc = "py_library targets (anything with PyInfo: on the Python path as a py_binary sees them), or plain files (filegroup: staged at their package-relative paths next to srcs)"),
        "legacy_create_init": attr.bool(default = True, doc = "as py_binary's: an empty `__init__.py` in each folder of the PyInfo deps' tree that has none"),
        "app": attr.string(doc = "the app module; defaults to the basename of the single src"),
        "out": attr.output(doc = "the component file; default `<name>.wasm`"),
        "bundle": attr.string(
            default = "reachable",
            values = ["reachable", "imported", "all"],
            doc = "modules carried for imports at run time (--bundle)",
        ),
        "bundle_packages": attr.string_list(doc = "modules or packages carried whole (--bundle-package)"),
        "stub_wasi": attr.bool(doc = "import no WASI; every WASI call traps (--stub-wasi)"),
        "import_timeout": attr.string(doc = "time limit of the app's import at build time, e.g. `60s`, `none` (--import-timeout; default 300s)"),
    }),
    toolchains = [COMPILER_TOOLCHAIN_TYPE, RUNTIME_TOOLCHAIN_TYPE],
    provides = [PyWasmComponentInfo],
)
