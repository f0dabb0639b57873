"""Analysis tests of the componentize-py rules (bazel_skylib analysistest)."""

load("@bazel_skylib//lib:unittest.bzl", "analysistest", "asserts")
load("@rules_componentize_py//rules:defs.bzl", "PyWasmComponentInfo", "WitInfo")

def _componentize_action_test_impl(ctx):
    env = analysistest.begin(ctx)
    target = analysistest.target_under_test(env)
    actions = [a for a in analysistest.target_actions(env) if a.mnemonic == "Componentize"]
    asserts.equals(env, 1, len(actions), "one Componentize action")
    if not actions:
        return analysistest.end(env)
    action = actions[0]

    # (Bazel 7 shows Starlark neither the execution requirements nor the
    # param file: action.argv is the expanded command line. scripts/test-bazel.sh
    # checks both with `bazel aquery` and the execution log.)
    asserts.equals(env, "componentize", action.argv[action.argv.index("componentize")], "subcommand")
    asserts.true(env, "--python-path" in action.argv, "a -p folder is given")

    # Hermetic: relative paths only, no inherited shell environment.
    for arg in action.argv:
        asserts.false(env, arg.startswith("/") or arg.startswith("@/"), "absolute path in argv: " + arg)
    asserts.false(env, "PATH" in action.env, "the action must not inherit PATH (use_default_shell_env)")

    # Declared inputs: the staged app, the staged WIT (package + deps/) and the runtime.
    inputs = [f.short_path for f in action.inputs.to_list()]
    for want in ctx.attr.expected_inputs:
        asserts.true(env, want in inputs, "missing input %s in %s" % (want, [i for i in inputs if "python3" not in i]))
    asserts.true(env, len([i for i in inputs if i.endswith("/runtime/interpreter.wasm")]) == 1, "interpreter.wasm is an input")

    # One output, <name>.wasm, and the provider.
    outputs = [f.short_path for f in action.outputs.to_list()]
    asserts.equals(env, [ctx.attr.expected_output], outputs)
    info = target[PyWasmComponentInfo]
    asserts.equals(env, ctx.attr.expected_output, info.component.short_path)
    asserts.equals(env, ctx.attr.expected_world, info.world)
    return analysistest.end(env)

componentize_action_test = analysistest.make(
    _componentize_action_test_impl,
    attrs = {
        "expected_inputs": attr.string_list(),
        "expected_output": attr.string(),
        "expected_world": attr.string(),
    },
)

def _wit_info_test_impl(ctx):
    env = analysistest.begin(ctx)
    info = analysistest.target_under_test(env)[WitInfo]
    asserts.equals(env, ctx.attr.expected_packages, info.transitive_packages.to_list(), "packages, dependencies first")
    asserts.equals(env, ctx.attr.expected_srcs, [f.short_path for f in info.transitive_srcs.to_list()])
    return analysistest.end(env)

wit_info_test = analysistest.make(
    _wit_info_test_impl,
    attrs = {
        "expected_packages": attr.string_list(),
        "expected_srcs": attr.string_list(),
    },
)
