"""The Python path of a component's PyInfo deps, laid out as py_binary's runfiles.

A py_binary sees each file of its deps at its runfiles path
(`<repository>/<path in the repository>`), with these folders on sys.path,
in this order (rules_python's stub script):

1. each entry of `PyInfo.imports` (`<repository>/<package>/<import>`);
2. the root of each repository in the runfiles, sorted by name
   (`--experimental_python_import_all_repositories`, on by default).

And by default (`legacy_create_init`) an empty `__init__.py` in each folder
of the runfiles below a repository root that has Python files and no
`__init__.py` of its own.

`stage_pyinfo` copies the files into `<name>.pyroot/` at those paths (the
main repository under `_main`, whatever the workspace is called, so that
bzlmod and WORKSPACE builds stage the same tree) and returns the folders to
pass as `-p`, in that order.
"""

MAIN = "_main"

def runfiles_path(f):
    """`f`'s path in the runfiles tree, the main repository named `_main`."""
    path = f.short_path
    if path.startswith("../"):
        return path[3:]
    return MAIN + "/" + path

def _normalize_import(ctx, imp):
    """A `PyInfo.imports` entry, with the main repository named `_main`."""
    ws = ctx.workspace_name
    if imp == ws:
        return MAIN
    if imp.startswith(ws + "/"):
        return MAIN + imp[len(ws):]
    return imp

def stage_pyinfo(ctx, deps, legacy_create_init):
    """Copy the files of the PyInfo `deps` into `<name>.pyroot/` at their runfiles paths.

    Args:
      ctx: the rule context.
      deps: the targets providing PyInfo.
      legacy_create_init: add the `__init__.py` files py_binary adds.

    Returns:
      (staged files, list of execroot-relative `-p` folders, in sys.path order,
      list of the source Files staged).
    """
    folder = ctx.label.name + ".pyroot"
    base = "/".join([p for p in [ctx.bin_dir.path, ctx.label.workspace_root, ctx.label.package, folder] if p])
    if not deps:
        return [], [], []

    files = depset(transitive = [d[PyInfo].transitive_sources for d in deps] +
                                [d[DefaultInfo].default_runfiles.files for d in deps if d[DefaultInfo].default_runfiles])
    seen = {}
    staged = []
    sources = []
    dirs_with_py = {}
    for f in files.to_list():
        rel = runfiles_path(f)
        if rel in seen:
            if seen[rel].path != f.path:
                fail(("%s: two files of the Python deps have the runfiles path %s: %s (from %s) and %s (from %s); " +
                      "a py_binary could not have both either") % (ctx.label, rel, seen[rel].path, seen[rel].owner, f.path, f.owner))
            continue
        seen[rel] = f
        sources.append(f)
        out = ctx.actions.declare_file(folder + "/" + rel)

        # A copy, not a symlink (pre-initialisation reads the folder inside
        # the WASI sandbox, which does not follow symlinks out of it).
        ctx.actions.expand_template(template = f, output = out, substitutions = {})
        staged.append(out)
        if f.extension == "py":
            dirs_with_py[rel.rpartition("/")[0]] = True

    repos = {}
    for rel in seen:
        repos[rel.partition("/")[0]] = True

    if legacy_create_init:
        # Every folder below a repository root on the way to a Python file.
        wanted = {}
        for d in dirs_with_py:
            parts = d.split("/")
            for i in range(2, len(parts) + 1):
                wanted["/".join(parts[:i])] = True
        for d in sorted(wanted):
            init = d + "/__init__.py"
            if init not in seen:
                out = ctx.actions.declare_file(folder + "/" + init)
                ctx.actions.write(out, "")
                staged.append(out)
                seen[init] = out

    # The folders on sys.path: the imports, then the repository roots. An import folder with no file in it is left out (the
    # compiler wants every -p folder to exist; it could hold no module).
    # Sorted repository names, as the stub script lists them.
    imports = depset(transitive = [d[PyInfo].imports for d in deps]).to_list()
    path = []
    for imp in imports:
        imp = _normalize_import(ctx, imp)
        if [rel for rel in seen if rel.startswith(imp + "/")] and imp not in path:
            path.append(imp)
    for repo in sorted(repos):
        if repo not in path:
            path.append(repo)
    return staged, [base + "/" + p for p in path], sources
