"""Pure-Python wheels from a hash-pinned lock, as py_library targets usable in `deps`.

bzlmod:

    wheels = use_extension("@rules_componentize_py//rules:wheels.bzl", "wheels")
    wheels.lock(name = "pypi", lock = "//third_party:requirements.lock")
    use_repo(wheels, "pypi")

WORKSPACE:

    load("@rules_componentize_py//rules:wheels.bzl", "py_wheels_lock")
    py_wheels_lock(name = "pypi", lock = "//third_party:requirements.lock")

Then `deps = ["@pypi//python_dateutil"]` (the PEP 503 name with `_`); each
package depends on the packages its wheel requires. See
rules/private/wheels.bzl for where the wheel files come from.
"""

load("//rules/private:wheels.bzl", _py_wheels_lock = "py_wheels_lock")

py_wheels_lock = _py_wheels_lock

_lock = tag_class(
    doc = "One hub repository of wheels from a lock file.",
    attrs = {
        "name": attr.string(mandatory = True, doc = "the hub repository's name"),
        "lock": attr.label(mandatory = True, doc = "the requirements lock (name==version --hash=sha256:...)"),
        "wheel_dir": attr.string(doc = "a folder of wheel files (absolute, or relative to the lock's folder)"),
        "index_url": attr.string(doc = "where the wheel files can be downloaded: <index_url>/<wheel file name>"),
    },
)

def _wheels_impl(mctx):
    seen = {}
    for mod in mctx.modules:
        for tag in mod.tags.lock:
            if tag.name in seen:
                fail("wheels.lock: two locks named %s (modules %s and %s)" % (tag.name, seen[tag.name], mod.name))
            seen[tag.name] = mod.name
            _py_wheels_lock(name = tag.name, lock = tag.lock, wheel_dir = tag.wheel_dir, index_url = tag.index_url)

wheels = module_extension(
    implementation = _wheels_impl,
    tag_classes = {"lock": _lock},
)
