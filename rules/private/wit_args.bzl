"""The WIT arguments shared by the rules that resolve a world (py_wasm_component, py_wasm_bindings)."""

load(":providers.bzl", "WitInfo")

# The attributes naming the world: the same names, docs and meaning in every
# rule that takes them.
WIT_ATTRS = {
    "wit": attr.label(providers = [WitInfo], mandatory = True, doc = "the wit_library defining the world"),
    "world": attr.string(doc = "the world: `name` or `ns:pkg/name@version`; optional when the WIT has one world"),
    "extra_worlds": attr.string_list(doc = "further worlds merged into `world`"),
    "wit_features": attr.string_list(doc = "WIT @unstable feature gates to enable (--features)"),
    "all_features": attr.bool(doc = "enable every WIT @unstable feature gate"),
}

def add_wit_args(args, attr, wit_dir):
    """Add `--wit-path`, `--world` (the world, then `extra_worlds`), `--features` and `--all-features`.

    Args:
      args: the action's Args (options before the subcommand).
      attr: `ctx.attr` of a rule with WIT_ATTRS.
      wit_dir: the staged WIT folder (stage_wit's).
    """
    args.add("--wit-path", wit_dir)
    for w in ([attr.world] if attr.world else []) + attr.extra_worlds:
        args.add("--world", w)
    args.add_all(attr.wit_features, before_each = "--features")
    if attr.all_features:
        args.add("--all-features")
