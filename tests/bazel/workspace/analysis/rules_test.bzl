"""Analysis tests of the componentize-py rules (bazel_skylib analysistest).

What Starlark can and cannot see of an action in Bazel 7:
- `action.argv` is the command line with every param file expanded: the
  `@<file>.params` argument that the spawn really gets is not in it;
- `action.execution_info` exists only under --experimental_google_legacy_api.
So the Componentize test checks the worker wiring as far as Starlark sees it
(the requirements the rule declares; the action's own execution_info when that
flag is on; one Args object after the executable, i.e. one flagfile), and
scripts/test-bazel.sh checks the rest on the real spawns (`bazel aquery`
ExecutionInfo, and the execution log's `@...params` argument).
"""

load("@bazel_skylib//lib:unittest.bzl", "analysistest", "asserts")
load("@rules_componentize_py//rules:defs.bzl", "ComponentizePyRuntimeInfo", "PyWasmComponentInfo", "WitInfo")

# The dict the rule passes to ctx.actions.run (a private constant, loaded to
# check it against what a Bazel worker needs).
load("@rules_componentize_py//rules/private:py_wasm_component.bzl", "WORKER_EXECUTION_REQUIREMENTS")

# What Bazel needs to run an action as a persistent, multiplexed worker that
# speaks the proto (not JSON) worker protocol.
_WORKER_REQUIREMENTS = {
    "supports-workers": "1",
    "supports-multiplex-workers": "1",
    "requires-worker-protocol": "proto",
}

def _actions(env, mnemonic):
    return [a for a in analysistest.target_actions(env) if a.mnemonic == mnemonic]

def _flag_value(argv, flag):
    """The argument after `flag`, or None (also when `flag` is repeated)."""
    if len([a for a in argv if a == flag]) != 1:
        return None
    i = argv.index(flag)
    return argv[i + 1] if i + 1 < len(argv) else None

def _absolute_paths(argv):
    """The arguments of `argv` that name an absolute file-system path.

    `-ffile-prefix-map=OLD=NEW` names a path only in OLD: NEW is the stable
    name written into the outputs instead (e.g. /toolchain/python/).
    """
    bad = []
    for arg in argv:
        value = arg
        if arg.startswith("-ffile-prefix-map="):
            value = arg[len("-ffile-prefix-map="):].partition("=")[0]
        elif arg.startswith("-I") or arg.startswith("-L"):
            value = arg[2:]
        elif arg.startswith("--") and "=" in arg:
            value = arg.partition("=")[2]
        elif arg.startswith("@"):
            value = arg[1:]
        if value.startswith("/"):
            bad.append(arg)
    return bad

# ----------------------------------------------------------- py_wasm_component

def _componentize_action_test_impl(ctx):
    env = analysistest.begin(ctx)
    target = analysistest.target_under_test(env)
    actions = _actions(env, "Componentize")
    asserts.equals(env, 1, len(actions), "one Componentize action")
    if not actions:
        return analysistest.end(env)
    action = actions[0]
    argv = action.argv

    # Worker: the rule asks for a multiplexed proto worker ...
    asserts.equals(env, _WORKER_REQUIREMENTS, WORKER_EXECUTION_REQUIREMENTS, "the rule's worker execution requirements")

    # ... and the action carries exactly that, where Starlark may look
    # (bazel test --experimental_google_legacy_api //analysis/...).
    execution_info = getattr(action, "execution_info", None)
    if execution_info != None:
        asserts.equals(env, _WORKER_REQUIREMENTS, execution_info, "the Componentize action's execution_info")

    # A worker gets its per-request arguments from the flagfile that ends the
    # spawn's command line; anything outside it would become a startup
    # argument of the shared worker process. So: the executable, then one
    # Args object (the rule's, with use_param_file("@%s", use_always = True))
    # holding every other argument.
    asserts.equals(env, 2, len(action.args), "command line parts: the executable and one Args (one @flagfile)")
    asserts.equals(env, "componentize-py", argv[0].rpartition("/")[2], "argv[0] is the compiler")
    for arg in argv[1:]:
        asserts.false(env, arg.startswith("@"), "an argument that a worker would read as a flagfile: " + arg)

    # The command line: global options, the subcommand, its options.
    asserts.equals(env, 1, len([a for a in argv if a == "componentize"]), "one `componentize` subcommand")
    sub = argv.index("componentize") if "componentize" in argv else 0
    for flag in ["--toolchain", "--wit-path", "--world"]:
        asserts.true(env, flag in argv[1:sub], "%s comes before the subcommand: %s" % (flag, argv))
    for flag in ["--python-path", "--output"]:
        asserts.true(env, flag in argv[sub:], "%s comes after the subcommand: %s" % (flag, argv))
    asserts.equals(env, ctx.attr.expected_world, _flag_value(argv, "--world"), "--world")

    # Attribute-driven options (bundle, bundle_packages, stub_wasi): given
    # in order after the subcommand; absent ones are not passed.
    after = "\n".join(argv[sub:])
    asserts.true(env, "\n".join(ctx.attr.expected_flags) in after, "%s in %s" % (ctx.attr.expected_flags, argv[sub:]))
    for flag in ctx.attr.unexpected_flags:
        asserts.false(env, flag in argv, "%s must not be passed: %s" % (flag, argv))
    asserts.equals(env, ["--output", target[PyWasmComponentInfo].component.path], argv[-2:], "argv ends with --output <component>")

    # Hermetic: relative paths only, no inherited shell environment.
    asserts.equals(env, [], _absolute_paths(argv), "absolute paths in argv")
    asserts.false(env, "PATH" in action.env, "the action must not inherit PATH (use_default_shell_env)")

    # Declared inputs: the staged app, the staged WIT (package + deps/) and the runtime.
    input_files = action.inputs.to_list()
    inputs = [f.short_path for f in input_files]
    for want in ctx.attr.expected_inputs:
        asserts.true(env, want in inputs, "missing input %s in %s" % (want, [i for i in inputs if "python3" not in i]))
    asserts.true(env, len([i for i in inputs if i.endswith("/runtime/interpreter.wasm")]) == 1, "interpreter.wasm is an input")

    # The -p folder and the WIT folder are the folders the inputs were staged in.
    pypath = _flag_value(argv, "--python-path")
    wit_path = _flag_value(argv, "--wit-path")
    for want in ctx.attr.expected_inputs:
        f = [i for i in input_files if i.short_path == want]
        if not f:
            continue
        folder = pypath if want.endswith(".py") else wit_path
        asserts.true(env, folder != None and f[0].path.startswith(folder + "/"), "%s is not under %s" % (f[0].path, folder))

    # The runtime is the one the registered runtime toolchain builds
    # (py_wasm_interpreter): its interpreter.wasm is the input, and the folder
    # above its runtime/ is --toolchain.
    runtime = ctx.attr.runtime[ComponentizePyRuntimeInfo]
    asserts.true(env, runtime.interpreter.path in [f.path for f in input_files], "%s is an input" % runtime.interpreter.path)
    asserts.equals(env, runtime.toolchain_dir, _flag_value(argv, "--toolchain"), "--toolchain")

    # One output, <name>.wasm, and the provider.
    outputs = [f.short_path for f in action.outputs.to_list()]
    asserts.equals(env, [ctx.attr.expected_output], outputs)
    info = target[PyWasmComponentInfo]
    asserts.equals(env, ctx.attr.expected_output, info.component.short_path)
    asserts.equals(env, ctx.attr.expected_world, info.world)
    asserts.equals(env, [ctx.attr.expected_output], [f.short_path for f in target[DefaultInfo].files.to_list()], "DefaultInfo files")
    return analysistest.end(env)

componentize_action_test = analysistest.make(
    _componentize_action_test_impl,
    attrs = {
        "expected_flags": attr.string_list(doc = "a run of arguments after the subcommand"),
        "expected_inputs": attr.string_list(),
        "unexpected_flags": attr.string_list(doc = "arguments that must not appear"),
        "expected_output": attr.string(),
        "expected_world": attr.string(),
        "runtime": attr.label(
            default = "@rules_componentize_py//toolchains:interpreter",
            providers = [ComponentizePyRuntimeInfo],
            doc = "the interpreter the registered runtime toolchain provides",
        ),
    },
)

# --------------------------------------------------------- py_wasm_interpreter

def _interpreter_actions_test_impl(ctx):
    env = analysistest.begin(ctx)
    target = analysistest.target_under_test(env)
    c_files = [f for f in ctx.files.srcs if f.extension == "c"]
    h_files = [f for f in ctx.files.srcs if f.extension == "h"]
    async_c_files = [f for f in ctx.files.async_srcs if f.extension == "c"]
    asserts.true(env, len(c_files) >= 1, "the runtime has .c files")

    # One WasiCcCompile per .c file and interpreter: each compiles exactly
    # one of them, to obj/<basename>.o (interpreter.wasm: srcs) or
    # obj-async/<basename>.o (interpreter-async.wasm: srcs and async_srcs,
    # with -DCOMPONENTIZE_PY_ASYNC), with every header of srcs available.
    compiles = _actions(env, "WasiCcCompile")
    asserts.equals(env, 2 * len(c_files) + len(async_c_files), len(compiles), "one WasiCcCompile per .c file of each interpreter")
    compiled = {}
    objs = {"obj": [], "obj-async": []}
    for a in compiles:
        inputs = a.inputs.to_list()
        srcs = [f for f in inputs if f.extension == "c"]
        asserts.equals(env, 1, len(srcs), "one .c input per compile: %s" % [f.short_path for f in srcs])
        outs = a.outputs.to_list()
        asserts.equals(env, 1, len(outs), "one output per compile")
        if len(srcs) != 1 or len(outs) != 1:
            continue
        src, obj = srcs[0], outs[0]
        variant = obj.dirname.rpartition("/")[2]
        asserts.true(env, variant in objs, "%s is not in obj/ or obj-async/" % obj.path)
        if variant not in objs:
            continue
        compiled[(src.path, variant)] = compiled.get((src.path, variant), 0) + 1
        objs[variant].append(obj)
        asserts.equals(env, variant == "obj-async", "-DCOMPONENTIZE_PY_ASYNC" in a.argv, "%s: -DCOMPONENTIZE_PY_ASYNC only for the async interpreter" % obj.short_path)
        asserts.equals(env, src.path, _flag_value(a.argv, "-c"), "-c <the .c file>")
        asserts.equals(env, ["-o", obj.path], a.argv[-2:], "argv ends with -o <the object>")
        asserts.equals(env, src.basename[:-len(".c")] + ".o", obj.basename)
        for flag in ctx.attr.expected_compile_flags:
            asserts.true(env, flag in a.argv, "%s: %s missing" % (src.basename, flag))
        for h in h_files:
            asserts.true(env, h in inputs, "%s: header %s is not an input" % (src.basename, h.short_path))
    for c in c_files:
        asserts.equals(env, 1, compiled.get((c.path, "obj"), 0), "compiles of %s for interpreter.wasm" % c.short_path)
    for c in c_files + async_c_files:
        asserts.equals(env, 1, compiled.get((c.path, "obj-async"), 0), "compiles of %s for interpreter-async.wasm" % c.short_path)
    for c in async_c_files:
        asserts.equals(env, 0, compiled.get((c.path, "obj"), 0), "%s must stay out of interpreter.wasm" % c.short_path)

    # Two WasiLinks, each: crt1-reactor.o first, then its objects in file
    # name order (cpython/build-interpreter.sh's), the reactor's flags; the
    # outputs are <name>/runtime/interpreter.wasm and interpreter-async.wasm.
    links = _actions(env, "WasiLink")
    asserts.equals(env, 2, len(links), "two WasiLink actions")
    wasms = {}
    for link in links:
        outs = link.outputs.to_list()
        asserts.equals(env, 1, len(outs), "one output of a link")
        if len(outs) != 1:
            continue
        out = outs[0]
        wasms[out.basename] = out
        asserts.true(env, out.dirname.endswith("/%s/runtime" % target.label.name), "%s is not in <name>/runtime/" % out.path)
        asserts.equals(env, ["-o", out.path], link.argv[-2:], "argv ends with -o <the module>")
        asserts.equals(env, "crt1-reactor.o", link.argv[1].rpartition("/")[2], "the reactor's start file comes first")
        for flag in ctx.attr.expected_link_flags:
            asserts.true(env, flag in link.argv, "link: %s missing" % flag)
        variant = {"interpreter.wasm": "obj", "interpreter-async.wasm": "obj-async"}.get(out.basename)
        asserts.true(env, variant != None, "unexpected link output %s" % out.basename)
        if variant == None:
            continue
        want = sorted([o.path for o in objs[variant]], key = lambda p: p.rpartition("/")[2])
        asserts.equals(env, want, [x for x in link.argv if x.endswith(".o") and "/%s/" % variant in x], "%s links its objects in file name order" % out.basename)
        link_inputs = link.inputs.to_list()
        for obj in objs[variant]:
            asserts.true(env, obj in link_inputs, "object %s is not an input of %s" % (obj.short_path, out.basename))
    asserts.equals(env, ["interpreter-async.wasm", "interpreter.wasm"], sorted(wasms.keys()), "the links' outputs")
    wasm = wasms.get("interpreter.wasm")

    # Hermetic: relative paths only, no inherited PATH.
    for a in compiles + links:
        asserts.equals(env, [], _absolute_paths(a.argv), "%s: absolute paths in argv" % a.mnemonic)
        asserts.false(env, "PATH" in a.env, a.mnemonic + " must not inherit PATH")

    # The providers point at the link's output.
    info = target[ComponentizePyRuntimeInfo]
    if wasm:
        asserts.equals(env, wasm.path, info.interpreter.path, "ComponentizePyRuntimeInfo.interpreter")
        asserts.equals(env, wasm.dirname.rpartition("/")[0], info.toolchain_dir, "toolchain_dir: the folder above runtime/")
        asserts.equals(env, sorted([w.path for w in wasms.values()]), sorted([f.path for f in target[OutputGroupInfo].interpreter.to_list()]), "output group `interpreter`")
    files = info.files.to_list()
    for w in wasms.values():
        asserts.true(env, w in files, "%s is in ComponentizePyRuntimeInfo.files" % w.basename)
    asserts.equals(env, sorted([f.path for f in files]), sorted([f.path for f in target[DefaultInfo].files.to_list()]), "DefaultInfo files == runtime files")

    # The stdlib next to it, pruned (cpython/build-interpreter.sh).
    stdlib = info.toolchain_dir + "/runtime/python/lib/python"
    rel = [f.path[len(stdlib):].partition("/")[2] for f in files if f.path.startswith(stdlib)]
    asserts.equals(env, len(files) - 2, len(rel), "every other runtime file is under runtime/python/lib/python3.X/")
    for want in ctx.attr.expected_stdlib:
        asserts.true(env, want in rel, "stdlib file %s missing" % want)
    pycs = [r for r in rel if r.endswith(".pyc")]
    kept_pycs = {_pyc_of(r): True for r in rel if r.endswith(".py")}
    pruned = [
        r
        for r in rel
        if (r.endswith(".pyc") and r not in kept_pycs) or r == "turtle.py" or r.partition("/")[0] in ["test", "idlelib", "tkinter", "lib-dynload", "site-packages"]
    ]
    asserts.equals(env, [], pruned, "stdlib files that should have been pruned")

    # The stdlib's byte code: one CompileStdlib action (componentize-py
    # compile-stdlib on the toolchain folder) writes a pyc beside each kept
    # source, __pycache__/<stem>.cpython-311.pyc, and nothing else.
    asserts.equals(env, sorted(kept_pycs.keys()), sorted(pycs), "a pyc beside each stdlib source")
    stdlib_compiles = _actions(env, "CompileStdlib")
    asserts.equals(env, 1, len(stdlib_compiles), "one CompileStdlib action")
    for a in stdlib_compiles:
        outs = sorted([f.path for f in a.outputs.to_list()])
        asserts.equals(env, sorted([f.path for f in files if f.path.endswith(".pyc")]), outs, "CompileStdlib's outputs are the pycs")
        asserts.equals(env, ["compile-stdlib", info.toolchain_dir], a.argv[-2:], "argv ends with compile-stdlib <the toolchain folder>")
        asserts.true(env, wasm in a.inputs.to_list(), "CompileStdlib reads interpreter.wasm")
        asserts.equals(env, [], _absolute_paths(a.argv[1:]), "CompileStdlib: absolute paths in argv")
    return analysistest.end(env)

def _pyc_of(source):
    folder, _, name = source.rpartition("/")
    pyc = "__pycache__/%s.cpython-311.pyc" % name[:-len(".py")]
    return folder + "/" + pyc if folder else pyc

interpreter_actions_test = analysistest.make(
    _interpreter_actions_test_impl,
    attrs = {
        "srcs": attr.label_list(allow_files = True, doc = "the srcs of the target under test"),
        "async_srcs": attr.label_list(allow_files = True, doc = "the async_srcs of the target under test"),
        "expected_compile_flags": attr.string_list(),
        "expected_link_flags": attr.string_list(),
        "expected_stdlib": attr.string_list(doc = "paths relative to python3.X/ that must be kept"),
    },
)

# ----------------------------------------------------------------- py_wasm_test

def _wasm_test_test_impl(ctx):
    env = analysistest.begin(ctx)
    target = analysistest.target_under_test(env)
    # py_wasm_test runs the component precompiled for the test host.
    component = ctx.attr.component[PyWasmComponentInfo].precompiled
    default = target[DefaultInfo]
    script = default.files_to_run.executable
    asserts.equals(env, target.label.name + ".sh", script.basename, "the test's executable")
    asserts.equals(env, [script], default.files.to_list(), "DefaultInfo files: the script")
    asserts.true(env, PyWasmComponentInfo not in target, "a test does not re-export the component's provider")

    # The script and the expected stdout, by content.
    writes = {a.outputs.to_list()[0].short_path: a.content for a in _actions(env, "FileWrite")}
    asserts.equals(env, ctx.attr.expected_stdout_file, writes.get(target.label.package + "/" + target.label.name + ".expected_stdout"), "expected stdout file")
    content = writes.get(script.short_path, "")
    asserts.true(env, content.startswith("#!/bin/bash\n"), "the script is a bash script")
    for want in ctx.attr.expected_script:
        asserts.true(env, want in content, "%r is not in the script:\n%s" % (want, content))

    # Every path the script names is in its runfiles: the component, the
    # expected stdout, and the compiler (the toolchain's componentize-py).
    runfiles = [f.short_path for f in default.default_runfiles.files.to_list()]
    named = {}
    for line in content.split("\n"):
        name, eq, value = line.partition("=")
        if eq and name in ["compiler", "component", "expected"]:
            named[name] = value.strip("'")
    asserts.equals(env, ["compiler", "component", "expected"], sorted(named.keys()), "paths the script names")
    for name, path in named.items():
        asserts.false(env, path.startswith("/"), "%s: absolute path %s" % (name, path))
        asserts.true(env, path in runfiles, "%s %s is not in the runfiles %s" % (name, path, runfiles))
    asserts.equals(env, component.short_path, named.get("component"), "the component under test")
    asserts.equals(env, "componentize-py", named.get("compiler", "").rpartition("/")[2], "the compiler")
    asserts.true(env, script.short_path in runfiles, "the script is in its runfiles")
    return analysistest.end(env)

wasm_test_test = analysistest.make(
    _wasm_test_test_impl,
    attrs = {
        "component": attr.label(providers = [PyWasmComponentInfo], doc = "the component of the py_wasm_test under test"),
        "expected_script": attr.string_list(doc = "fragments the generated script must contain"),
        "expected_stdout_file": attr.string(doc = "the content of <name>.expected_stdout"),
    },
)

# ----------------------------------------------------------------- wit_library

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
