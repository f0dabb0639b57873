"""
The public Python API of a folder of generated bindings, as lines of text,
read with `ast` (nothing is imported or run).

    python3 surface.py DIR          print the surface of every module under DIR
    python3 surface.py --compare UPSTREAM OURS ALLOW
                                    compare two surfaces; exit 1 on any
                                    difference that ALLOW does not list

One line per item, `<kind> <qualified name>: <description>`:

    module   wit_world.imports.api
    class    wit_world.imports.api.Point: bases=[] decorators=[dataclass]
    field    wit_world.imports.api.Point.x: int
    member   wit_world.imports.api.Color.RED
    def      wit_world.imports.api.get: (key: str) -> Optional[str]
    def      wit_world.imports.api.Blob.merge: @classmethod (cls, a: Self, b: Self) -> Self
    alias    wit_world.imports.api.Shape: Union[wit_world.imports.api.Shape_Circle, ...]
    reexport wit_world.exports.api.Point: wit_world.imports.api.Point
    modref   wit_world.host: wit_world.imports.host

Names starting with `_` are private and left out, except `__init__`,
`__enter__`, `__exit__` and `__del__`. Annotations are normalised: every name
is resolved through the module's imports to where it is defined
(`values.Point` -> `wit_world.exports.values.Point`), and `Self` to the
enclosing class, so that two generators that spell an import differently
compare equal.
"""

import ast
import fnmatch
import pathlib
import sys

KEPT_DUNDERS = {"__init__", "__enter__", "__exit__", "__del__"}


def public(name):
    return not name.startswith("_") or name in KEPT_DUNDERS


def type_checking_view(body):
    """`body` with each `if TYPE_CHECKING:` replaced by its body (the
    definitions type checkers see; the `else:` branch is the run-time one)."""
    out = []
    for node in body:
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            out.extend(type_checking_view(node.body))
        else:
            out.append(node)
    return out


def module_name(root, path):
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


class Module:
    def __init__(self, name, is_package, tree):
        self.name = name
        self.is_package = is_package
        self.tree = tree
        # local name -> dotted target (a module or `module.attr`)
        self.bindings = {}
        self.defined = set()
        # module-level `Name = <annotation>` assignments (type aliases and
        # variant unions): name -> value
        self.aliases = {}


def absolute(module, level, target):
    """The dotted module that `from <level dots><target> import` names."""
    if level == 0:
        return target or ""
    base = module.name.split(".")
    if not module.is_package:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    parts = base + ([target] if target else [])
    return ".".join(p for p in parts if p)


def load(root):
    root = pathlib.Path(root)
    modules = {}
    for path in sorted(root.rglob("*.py")):
        name = module_name(root, path)
        try:
            tree = ast.parse(path.read_text())
        except SyntaxError:
            # Newer syntax than this Python's (upstream's async support
            # uses 3.12's generics): compared by name only.
            tree = ast.Module(body=[], type_ignores=[])
        tree.body = type_checking_view(tree.body)
        modules[name] = Module(name, path.name == "__init__.py", tree)
    for module in modules.values():
        for node in module.tree.body:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    local = alias.asname or alias.name.split(".")[0]
                    module.bindings[local] = alias.name if alias.asname else alias.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom):
                source = absolute(module, node.level, node.module)
                for alias in node.names:
                    target = f"{source}.{alias.name}" if source else alias.name
                    module.bindings[alias.asname or alias.name] = target
            elif isinstance(node, (ast.ClassDef, ast.FunctionDef)):
                module.defined.add(node.name)
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        module.defined.add(target.id)
                        if target.id[:1].isupper() and not isinstance(node.value, ast.Call):
                            module.aliases[target.id] = node.value
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                module.defined.add(node.target.id)
    return modules


def canonical(modules, dotted, depth=0):
    """Follow re-exports: `a.b.X` imported from elsewhere -> where X is defined."""
    if depth > 20 or "." not in dotted:
        return dotted
    if dotted in modules:
        return dotted
    owner, _, attr = dotted.rpartition(".")
    module = modules.get(owner)
    if module is None:
        return dotted
    if attr in module.defined:
        return dotted
    if attr in module.bindings:
        return canonical(modules, module.bindings[attr], depth + 1)
    return dotted


TYPING = {"typing", "types", "enum", "abc", "dataclasses", "builtins"}


def annotation(modules, module, node, self_class, depth=0):
    """`node` (an annotation) as normalised text; a type alias stands for
    what it names (as for a type checker), so that a generator that names
    aliases and one that spells them out compare equal."""
    text = annotation_text(modules, module, node, self_class)
    owner, _, name = text.rpartition(".")
    target = modules.get(owner)
    if depth < 20 and target is not None and name in target.aliases:
        value = target.aliases[name]
        # A variant's `Union` of its case classes is a type of its own.
        if not (isinstance(value, ast.Subscript) and ast.unparse(value.value) == "Union"):
            return annotation(modules, target, value, None, depth + 1)
    return text


def annotation_text(modules, module, node, self_class):
    """`node` (an annotation) as normalised text."""
    if node is None:
        return "<none>"
    if isinstance(node, ast.Constant):
        if isinstance(node.value, str):  # a string annotation
            return annotation(modules, module, ast.parse(node.value, mode="eval").body, self_class)
        return repr(node.value)
    if isinstance(node, ast.Name):
        name = node.id
        if name == "Self" and self_class:
            return self_class
        if name in module.defined:
            return f"{module.name}.{name}"
        if name in module.bindings:
            target = canonical(modules, module.bindings[name])
            root = target.split(".")[0]
            if root in TYPING:
                return target.rpartition(".")[2]
            return target
        return name
    if isinstance(node, ast.Attribute):
        base = annotation(modules, module, node.value, self_class)
        return canonical(modules, f"{base}.{node.attr}")
    if isinstance(node, ast.Subscript):
        base = annotation(modules, module, node.value, self_class)
        inner = node.slice
        items = inner.elts if isinstance(inner, ast.Tuple) else [inner]
        if isinstance(inner, ast.Tuple) and not inner.elts:
            return f"{base}[()]"
        args = ", ".join(annotation(modules, module, item, self_class) for item in items)
        return f"{base}[{args}]"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        left = annotation(modules, module, node.left, self_class)
        right = annotation(modules, module, node.right, self_class)
        return f"{left} | {right}"
    if isinstance(node, ast.Tuple):
        return "(" + ", ".join(annotation(modules, module, e, self_class) for e in node.elts) + ")"
    if isinstance(node, ast.List):
        return "[" + ", ".join(annotation(modules, module, e, self_class) for e in node.elts) + "]"
    return ast.unparse(node)


def decorator_names(node):
    names = []
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        names.append(ast.unparse(target))
    return names


def signature(modules, module, func, self_class):
    params = []
    args = func.args
    positional = args.posonlyargs + args.args
    for arg in positional:
        params.append(f"{arg.arg}: {annotation(modules, module, arg.annotation, self_class)}"
                      if arg.annotation else arg.arg)
    if args.vararg:
        params.append(f"*{args.vararg.arg}: {annotation(modules, module, args.vararg.annotation, self_class)}")
    for arg in args.kwonlyargs:
        params.append(f"{arg.arg}: {annotation(modules, module, arg.annotation, self_class)}")
    if args.kwarg:
        params.append(f"**{args.kwarg.arg}")
    kept = [d for d in decorator_names(func) if d in ("classmethod", "staticmethod", "abstractmethod")]
    prefix = "".join(f"@{d} " for d in kept)
    asynchronous = "async " if isinstance(func, ast.AsyncFunctionDef) else ""
    ret = annotation(modules, module, func.returns, self_class)
    return f"{prefix}{asynchronous}({', '.join(params)}) -> {ret}"


def surface(root):
    modules = load(root)
    lines = {}

    def add(kind, name, description=""):
        lines[f"{kind} {name}"] = description

    for name, module in sorted(modules.items()):
        if any(part.startswith("_") for part in name.split(".")):
            continue  # a private module (`wit_world._registry`)
        add("module", name)
        for node in module.tree.body:
            if isinstance(node, ast.ClassDef) and public(node.name):
                qualified = f"{name}.{node.name}"
                bases = [annotation(modules, module, b, None) for b in node.bases]
                add("class", qualified, f"bases=[{', '.join(bases)}] decorators=[{', '.join(decorator_names(node))}]")
                enum_like = any(b.rpartition(".")[2] in ("Enum", "Flag") for b in bases)
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and public(item.name):
                        add("def", f"{qualified}.{item.name}", signature(modules, module, item, qualified))
                    elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                        if public(item.target.id):
                            add("field", f"{qualified}.{item.target.id}",
                                annotation(modules, module, item.annotation, qualified))
                    elif isinstance(item, ast.Assign) and enum_like:
                        for target in item.targets:
                            if isinstance(target, ast.Name) and public(target.id):
                                add("member", f"{qualified}.{target.id}")
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and public(node.name):
                add("def", f"{name}.{node.name}", signature(modules, module, node, None))
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name) and public(target.id) and target.id.isidentifier():
                        if target.id[0].isupper():
                            add("alias", f"{name}.{target.id}", annotation(modules, module, node.value, None))
        for local, target in sorted(module.bindings.items()):
            origin = canonical(modules, target)
            # A name imported from a generated module and re-exported under
            # the same name: part of the module's API (`from .x import P as P`).
            if public(local) and origin.rpartition(".")[0] in modules and origin not in modules:
                owner = origin.rpartition(".")[0]
                if owner != name:
                    add("reexport", f"{name}.{local}", origin)
            # A generated module bound in another one (upstream's
            # `from .imports import host`): `from wit_world import host`.
            elif public(local) and origin in modules and origin != f"{name}.{local}":
                add("modref", f"{name}.{local}", origin)
    return lines


def matches_any(Any, ours):
    """Whether upstream's text equals ours once each `Any` of upstream's
    (written where a type is not yet defined) may stand for any name."""
    import re

    pattern = re.escape(Any).replace(r"Any", r"[A-Za-z_][\w.]*(?:\[.*?\])?")
    return re.fullmatch(pattern, ours) is not None


def split_signature(text):
    """`@classmethod async (a: int, b) -> str` -> (prefix, [(name, annotation)],
    return annotation); None for anything else."""
    start = text.find("(")
    if start < 0 or not text.endswith(")") and " -> " not in text:
        return None
    depth, end = 0, None
    for index in range(start, len(text)):
        if text[index] in "([":
            depth += 1
        elif text[index] in ")]":
            depth -= 1
            if depth == 0:
                end = index
                break
    if end is None:
        return None
    params, depth, current = [], 0, ""
    for char in text[start + 1:end]:
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        if char == "," and depth == 0:
            params.append(current.strip())
            current = ""
        else:
            current += char
    if current.strip():
        params.append(current.strip())
    pairs = [tuple(p.split(": ", 1)) if ": " in p else (p, "<none>") for p in params]
    return text[:start], pairs, text[end + 1:].removeprefix(" -> ")


def only_annotations_added(up, ours):
    """Whether two signatures differ only where upstream has no annotation
    (`<none>`) and ours has one: same prefix, same parameter names."""
    a, b = split_signature(up), split_signature(ours)
    if a is None or b is None or a[0] != b[0] or len(a[1]) != len(b[1]):
        return False
    for (up_name, up_ann), (our_name, our_ann) in zip(a[1], b[1]):
        if up_name != our_name or up_ann not in ("<none>", our_ann):
            return False
    return a[2] in ("<none>", b[2])


def load_allow(path):
    """Allow-list lines: `<rule> <pattern>  # reason`; rules are
    `missing` (upstream has it, ours does not), `extra` (ours only),
    `differs` (both, described differently), `upstream-any` (differs only
    where upstream writes `Any`), `annotated` (differs only where upstream
    has no annotation: same parameter names), `missing-module` (the pattern
    names a module ours does not write at all for this world: everything in
    it is missing)."""
    rules = []
    for line in pathlib.Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            rule, pattern = line.split(None, 1)
            rules.append((rule, pattern.strip()))
    return rules


def allowed(rules, rule, key):
    item = key.split(" ", 1)[1]
    return any(r == rule and (fnmatch.fnmatchcase(item, p) or fnmatch.fnmatchcase(key, p)) for r, p in rules)


def compare(upstream_dir, ours_dir, allow_path):
    up = surface(upstream_dir)
    ours = surface(ours_dir)
    rules = load_allow(allow_path)
    failures, accepted = [], []
    for key in sorted(set(up) | set(ours)):
        if key not in ours:
            item = key.split(" ", 1)[1]
            absent_module = any(
                r == "missing-module" and f"module {p}" not in ours and (item == p or item.startswith(p + "."))
                for r, p in rules
            )
            ok = absent_module or allowed(rules, "missing", key)
            (accepted if ok else failures).append(f"missing  {key}: {up[key]}")
        elif key not in up:
            (accepted if allowed(rules, "extra", key) else failures).append(f"extra    {key}: {ours[key]}")
        elif up[key] != ours[key]:
            line = f"differs  {key}\n    upstream: {up[key]}\n    ours:     {ours[key]}"
            if allowed(rules, "differs", key):
                accepted.append(line)
            elif "Any" in up[key] and matches_any(up[key], ours[key]) and allowed(rules, "upstream-any", key):
                accepted.append(line)
            elif only_annotations_added(up[key], ours[key]) and allowed(rules, "annotated", key):
                accepted.append(line)
            else:
                failures.append(line)
    print(f"{len(up)} upstream items, {len(ours)} ours, {len(accepted)} differences allowed, "
          f"{len(failures)} not")
    for line in accepted:
        print(f"allowed: {line}")
    for line in failures:
        print(f"FAIL: {line}")
    return 1 if failures else 0


if __name__ == "__main__":
    if sys.argv[1] == "--compare":
        sys.exit(compare(*sys.argv[2:5]))
    for key, description in sorted(surface(sys.argv[1]).items()):
        print(f"{key}: {description}" if description else key)
