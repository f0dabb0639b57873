"""py_wasm_compose: plug components' exports into another component's imports."""

load(":missing.bzl", "fail_at_execution")
load(":providers.bzl", "PyWasmComponentInfo")
load(":py_wasm_component.bzl", "COMPILER_TOOLCHAIN_TYPE", "precompile_outputs")

def compose_action(ctx, compiler, socket, plugs, out, allow_imports = False):
    """Register the `Compose` action: `componentize-py compose socket --plug ... -o out`.

    Args:
      ctx: the rule context.
      compiler: the compiler toolchain's ComponentizePyCompilerInfo (not missing).
      socket: File, the component whose imports are satisfied.
      plugs: list of File, the components whose exports satisfy them.
      out: the composed component.
      allow_imports: let imports other than WASI stay imports of `out`.
    """
    args = ctx.actions.args()
    args.add("--quiet")
    args.add("compose")
    args.add(socket)
    args.add_all(plugs, before_each = "--plug")
    args.add("--output", out)
    if allow_imports:
        args.add("--allow-imports")
    ctx.actions.run(
        executable = compiler.compiler,
        arguments = [args],
        inputs = [socket] + plugs,
        outputs = [out],
        mnemonic = "Compose",
        progress_message = "Composing %{label}",
        toolchain = COMPILER_TOOLCHAIN_TYPE,
    )

def _py_wasm_compose_impl(ctx):
    compiler = ctx.toolchains[COMPILER_TOOLCHAIN_TYPE].componentize_py
    socket = ctx.attr.socket[PyWasmComponentInfo]
    plugs = [p[PyWasmComponentInfo] for p in ctx.attr.plugs]
    out = ctx.outputs.out if ctx.outputs.out else ctx.actions.declare_file(ctx.label.name + ".wasm")
    if compiler.missing:
        fail_at_execution(ctx, [out], compiler.missing, "Compose")
    else:
        compose_action(ctx, compiler, socket.component, [p.component for p in plugs], out, ctx.attr.allow_imports)
    precompiled, precompiled_for_timeout = precompile_outputs(ctx, compiler, out, compiler.missing)
    return [
        DefaultInfo(files = depset([out])),
        OutputGroupInfo(precompiled = depset([precompiled])),
        # What the socket is, with the composed files: py_wasm_test,
        # py_wasm_run and another py_wasm_compose take it as a component.
        PyWasmComponentInfo(
            component = out,
            precompiled = precompiled,
            precompiled_for_timeout = precompiled_for_timeout,
            wit = socket.wit,
            world = socket.world,
            app = socket.app,
            python_srcs = depset(transitive = [socket.python_srcs] + [p.python_srcs for p in plugs]),
        ),
    ]

py_wasm_compose = rule(
    implementation = _py_wasm_compose_impl,
    doc = """Compose components: each import of `socket` (or of a plug) is satisfied by the plug export of the same name.

One `Compose` action (`componentize-py compose`, deterministic). The result
exports what `socket` exports and imports what stays unsatisfied (only WASI
unless `allow_imports`); a plug that satisfies no import, an import that two
plugs export, or a type mismatch is an error naming the import and the
components. Provides PyWasmComponentInfo, so py_wasm_test, py_wasm_run and
py_wasm_serve take it like a py_wasm_component.""",
    attrs = {
        "socket": attr.label(providers = [PyWasmComponentInfo], mandatory = True, doc = "the component whose imports are satisfied (py_wasm_component or py_wasm_compose)"),
        "plugs": attr.label_list(providers = [PyWasmComponentInfo], allow_empty = False, mandatory = True, doc = "the components whose exports satisfy them"),
        "allow_imports": attr.bool(doc = "let imports other than `wasi:` ones stay imports of the result (--allow-imports), for a host that provides them"),
        "out": attr.output(doc = "the composed component; default `<name>.wasm`"),
    },
    toolchains = [COMPILER_TOOLCHAIN_TYPE],
    provides = [PyWasmComponentInfo],
)
