"""py_wheels_lock: pure-Python wheels from a hash-pinned lock file, as py_library targets.

The lock is a pip requirements file with pinned versions and hashes, as
`pip-compile --generate-hashes` or `pip freeze` + `pip hash` write it:

    six==1.17.0 \\
        --hash=sha256:4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274
    python-dateutil==2.9.0.post0 --hash=sha256:a8b2bc7bffae282281c8140a97d3aa9c14da0b136dfe83f850eea9a5f7470427

Each wheel is found by its sha256, offline first: in Bazel's repository
cache, in a `--distdir` folder (by the wheel's file name), in `wheel_dir`,
then at `index_url`. Wheels must be pure Python (`Root-Is-Purelib: true`,
tag `*-none-any`). Each is unpacked to `<package>/site-packages/` of one hub
repository, with `py_library(name = <package>, imports = ["site-packages"],
deps = <its Requires-Dist that apply to CPython 3.11 on WASI>)`: rules_python's
pip layout, so `@pypi//python_dateutil` works in `deps` of py_library,
py_test and py_wasm_component alike.
"""

_PY_DEFS = str(Label("@rules_python//python:defs.bzl"))

# The marker environment of the components' interpreter (CPython 3.11.8 for
# wasm32-wasi).
_MARKER_ENV = {
    "python_version": "3.11",
    "python_full_version": "3.11.8",
    "sys_platform": "wasi",
    "platform_system": "",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "platform_machine": "wasm32",
    "platform_release": "",
    "implementation_version": "3.11.8",
    "extra": "",
}

_TAGS = ["py3-none-any", "py2.py3-none-any"]

def normalize(name):
    """PEP 503 name, with `_`: `Python-Dateutil` -> `python_dateutil`."""
    out = name.lower()
    for c in ["-", "."]:
        out = out.replace(c, "_")
    for _ in range(len(out)):
        if "__" not in out:
            break
        out = out.replace("__", "_")
    return out

def parse_lock(text, where):
    """The entries of a requirements lock: list of struct(name, version, hashes, line)."""
    lines = []
    pending = ""
    for raw in text.split("\n"):
        line = raw.strip()
        if line.startswith("#"):
            line = ""
        elif " #" in line:
            line = line.partition(" #")[0].strip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if line:
            lines.append(line)
    entries = []
    for line in lines:
        if line.startswith("-"):
            fail("%s: unsupported option line `%s` (only `name==version --hash=sha256:...` lines)" % (where, line))
        words = line.split(" ")
        spec = words[0].partition(";")[0]
        if "==" not in spec:
            fail("%s: `%s` is not pinned (want `name==version --hash=sha256:...`)" % (where, line))
        name, _, version = spec.partition("==")
        name = name.partition("[")[0].strip()
        hashes = [w[len("--hash=sha256:"):] for w in words if w.startswith("--hash=sha256:")]
        if not hashes:
            fail("%s: `%s` has no --hash=sha256:... (the lock must pin every file)" % (where, line))
        entries.append(struct(name = name, version = version.strip(), hashes = hashes, line = line))
    return entries

# ------------------------------------------------------------------ markers

def _tokens(marker):
    out = []
    i = 0
    n = len(marker)
    for _ in range(n + 1):
        if i >= n:
            break
        c = marker[i]
        if c == " " or c == "\t":
            i += 1
        elif c in "()":
            out.append(c)
            i += 1
        elif c in "'\"":
            j = marker.find(c, i + 1)
            if j < 0:
                return None
            out.append(("str", marker[i + 1:j]))
            i = j + 1
        elif c in "<>=!~":
            j = i
            for _ in range(3):
                if j < n and marker[j] in "<>=!~":
                    j += 1
            out.append(("op", marker[i:j]))
            i = j
        else:
            j = i
            for _ in range(n):
                if j >= n or marker[j] in " \t()'\"<>=!~":
                    break
                j += 1
            out.append(("word", marker[i:j]))
            i = j
    return out

def _version_tuple(v):
    parts = []
    for p in v.split("."):
        digits = ""
        for c in p.elems():
            if not c.isdigit():
                break
            digits += c
        parts.append(int(digits) if digits else 0)
    return parts

_VERSION_VARS = ["python_version", "python_full_version", "implementation_version"]

def _compare_versions(left, op, right):
    wildcard = right.endswith(".*")
    a, b = _version_tuple(left), _version_tuple(right[:-2] if wildcard else right)
    if wildcard:
        a = a[:len(b)]
    for _ in range(4):
        if len(a) < len(b):
            a = a + [0]
        if len(b) < len(a):
            b = b + [0]
    if op in ["==", "==="]:
        return a == b
    if op == "!=":
        return a != b
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    if op in [">=", "~="]:
        return a >= b
    return None

def _compare(left, op, right, versions):
    if versions and op not in ["in", "not in"]:
        return _compare_versions(left, op, right)
    if op in ["==", "==="]:
        return left == right
    if op == "!=":
        return left != right
    if op == "in":
        return left in right
    if op == "not in":
        return left not in right
    return None

def _marker_value(tok):
    if tok[0] == "str":
        return tok[1]
    if tok[0] == "word" and tok[1] in _MARKER_ENV:
        return _MARKER_ENV[tok[1]]
    return None

def evaluate_marker(marker):
    """True/False for a PEP 508 marker in the components' environment; None if not understood."""
    toks = _tokens(marker)
    if toks == None:
        return None

    # Comparisons to booleans; `not in` is one operator.
    items = []
    i = 0
    for _ in range(len(toks) + 1):
        if i >= len(toks):
            break
        t = toks[i]
        if t in ["(", ")"]:
            items.append(t)
            i += 1
            continue
        if t[0] == "word" and t[1] in ["and", "or"]:
            items.append(t[1])
            i += 1
            continue
        if i + 2 >= len(toks):
            return None
        left = toks[i]
        op = toks[i + 1]
        k = i + 2
        if op == ("word", "not") and toks[k] == ("word", "in"):
            op = ("op", "not in")
            k += 1
        elif op == ("word", "in"):
            op = ("op", "in")
        if k >= len(toks) or op[0] != "op":
            return None
        right = toks[k]
        lv, rv = _marker_value(left), _marker_value(right)
        if lv == None or rv == None:
            return None
        versions = (left[0] == "word" and left[1] in _VERSION_VARS) or (right[0] == "word" and right[1] in _VERSION_VARS)
        r = _compare(lv, op[1], rv, versions)
        if r == None:
            return None
        items.append(r)
        i = k + 1

    # and/or with parentheses: a stack of [values, operators] frames.
    frames = [([], [])]
    for it in items:
        if it == "(":
            frames.append(([], []))
        elif it == ")":
            if len(frames) < 2:
                return None
            vals, ops = frames.pop()
            v = _fold(vals, ops)
            if v == None:
                return None
            frames[-1][0].append(v)
        elif it in ["and", "or"]:
            frames[-1][1].append(it)
        else:
            frames[-1][0].append(it)
    if len(frames) != 1:
        return None
    return _fold(frames[0][0], frames[0][1])

def _fold(vals, ops):
    """vals[0] ops[0] vals[1] ...: `and` binds tighter than `or`."""
    if len(vals) != len(ops) + 1:
        return None
    terms = [vals[0]]
    for i, op in enumerate(ops):
        if op == "and":
            terms[-1] = terms[-1] and vals[i + 1]
        else:
            terms.append(vals[i + 1])
    return True in terms

# --------------------------------------------------------------- metadata

def _header_values(text, header):
    out = []
    for line in text.split("\n"):
        if line.startswith(header + ":"):
            out.append(line[len(header) + 1:].strip())
        elif line.strip() == "":
            break  # the headers end at the first blank line
    return out

def _requirement_name(req):
    name = ""
    for c in req.elems():
        if c.isalnum() or c in "-_.":
            name += c
        else:
            break
    return name

# --------------------------------------------------------------- the rule

_BUILD = """\
# Generated by py_wheels_lock from {lock}. Do not edit.
load("{py_defs}", "py_library")

# {dist} {version} (wheel sha256 {sha256})
py_library(
    name = "{pkg}",
    srcs = glob(["site-packages/**/*.py"], allow_empty = True),
    data = glob(
        ["site-packages/**"],
        exclude = ["site-packages/**/*.py", "site-packages/**/*.pyc", "site-packages/**/__pycache__/**"],
        allow_empty = True,
    ),
    imports = ["site-packages"],
    visibility = ["//visibility:public"],
    deps = {deps},
)
"""

def _fetch_wheel(rctx, entry, wheel_dir):
    """Download (or find) the entry's wheel, checked against its hashes; (sha256, path)."""
    stems = {}
    for n in [entry.name.replace("-", "_").replace(".", "_"), normalize(entry.name), entry.name]:
        stems[n] = True
    names = ["%s-%s-%s.whl" % (s, entry.version, t) for s in stems for t in _TAGS]
    local = []
    if wheel_dir and wheel_dir.exists:
        prefixes = ["%s-%s-" % (s, entry.version) for s in stems]
        for f in wheel_dir.readdir():
            if f.basename.endswith(".whl") and [p for p in prefixes if f.basename.lower().startswith(p.lower())]:
                local.append(f)
    # A --distdir file is matched by the output's file name: one attempt per
    # candidate name (the repository cache, by sha256, answers the first).
    attempts = [(f.basename, ["file://%s" % f]) for f in local]
    for n in names:
        if rctx.attr.index_url:
            attempts.append((n, ["%s/%s" % (rctx.attr.index_url.rstrip("/"), n)]))
        else:
            # Never resolves: only the repository cache and --distdir can answer.
            attempts.append((n, ["https://wheels.invalid/%s" % n]))
    for h in entry.hashes:
        for n, urls in attempts:
            out = "_wheels/%s/%s" % (h[:16], n)
            res = rctx.download(url = urls, sha256 = h, output = out, allow_fail = True)
            if res.success:
                return h, out
    fail(("py_wheels_lock: no wheel of %s==%s with sha256 %s in the repository cache, a --distdir folder%s%s " +
          "(expected file name: %s; fetch it with `pip download --no-deps --only-binary=:all: --require-hashes -r %s`)") % (
        entry.name,
        entry.version,
        " or ".join(entry.hashes),
        ", %s" % wheel_dir if wheel_dir else "",
        " or %s" % rctx.attr.index_url if rctx.attr.index_url else "",
        " or ".join(names[:2]),
        rctx.attr.lock,
    ))

def _py_wheels_lock_impl(rctx):
    lock = rctx.path(rctx.attr.lock)
    entries = parse_lock(rctx.read(lock), str(rctx.attr.lock))
    wheel_dir = None
    if rctx.attr.wheel_dir:
        wheel_dir = rctx.path(rctx.attr.wheel_dir) if rctx.attr.wheel_dir.startswith("/") else lock.dirname.get_child(rctx.attr.wheel_dir)
    by_name = {normalize(e.name): e for e in entries}
    if len(by_name) != len(entries):
        fail("%s: a package is listed twice" % rctx.attr.lock)

    rctx.file("WORKSPACE.bazel", "")
    rctx.file("BUILD.bazel", "# Generated by py_wheels_lock: one package per wheel of %s.\n" % rctx.attr.lock)
    for e in entries:
        pkg = normalize(e.name)
        sha, archive = _fetch_wheel(rctx, e, wheel_dir)
        # rctx.extract knows the archive type by its extension: a wheel is a zip.
        rctx.symlink(archive, archive + ".zip")
        rctx.extract(archive + ".zip", output = pkg + "/site-packages")
        rctx.delete("_wheels")
        site = rctx.path(pkg + "/site-packages")
        info = [f for f in site.readdir() if f.basename.endswith(".dist-info")]
        if len(info) != 1:
            fail("py_wheels_lock: the wheel of %s has %d .dist-info folders, want 1" % (e.name, len(info)))
        wheel_meta = rctx.read(info[0].get_child("WHEEL"))
        purelib = _header_values(wheel_meta, "Root-Is-Purelib")
        tags = _header_values(wheel_meta, "Tag")
        if purelib != ["true"] or [t for t in tags if not t.endswith("-none-any")]:
            fail("py_wheels_lock: the wheel of %s is not pure Python (Root-Is-Purelib %s, tags %s): a component can carry only pure-Python code" % (e.name, purelib, tags))
        deps = []
        for req in _header_values(rctx.read(info[0].get_child("METADATA")), "Requires-Dist"):
            spec, _, marker = req.partition(";")
            marker = marker.strip()
            if marker:
                applies = evaluate_marker(marker)
                if applies == None:
                    print("py_wheels_lock: %s: cannot evaluate the marker of `Requires-Dist: %s`; taking it as true" % (e.name, req))
                    applies = True
                if not applies:
                    continue
            dep = normalize(_requirement_name(spec.strip()))
            if dep not in by_name:
                fail("py_wheels_lock: %s requires %s (`Requires-Dist: %s`), which is not in %s: add it, pinned with its hash" % (e.name, dep, req, rctx.attr.lock))
            if dep != pkg and "//" + dep not in deps:
                deps.append("//" + dep)
        rctx.file(pkg + "/BUILD.bazel", _BUILD.format(
            lock = rctx.attr.lock,
            py_defs = _PY_DEFS,
            dist = e.name,
            version = e.version,
            sha256 = sha,
            pkg = pkg,
            deps = repr(sorted(deps)),
        ))

py_wheels_lock = repository_rule(
    implementation = _py_wheels_lock_impl,
    doc = """A hub repository with one py_library per wheel of a hash-pinned lock (`@<name>//<package>`).

Offline: each wheel comes from the repository cache (by sha256) or a
--distdir folder (by file name) before `wheel_dir` and `index_url`.""",
    attrs = {
        "lock": attr.label(mandatory = True, allow_single_file = True, doc = "the requirements lock (name==version --hash=sha256:...)"),
        "wheel_dir": attr.string(doc = "a folder of wheel files (absolute, or relative to the lock's folder)"),
        "index_url": attr.string(doc = "where the wheel files can be downloaded: <index_url>/<wheel file name>"),
    },
)
