use std::collections::HashMap;

use heck::{ToSnakeCase, ToUpperCamelCase};
use wit_parser::Resolve;

use super::generate;
use super::naming::{field_name, member_name, module_level_name, variant_case_class};
use std::process::Command;

/// A stand-in for the runtime's builtin module: records the calls.
const RUNTIME_STUB: &str = "\
calls = []
results = {}
drops = []

def call_import(index, args):
    calls.append((index, args))
    return results.pop(index, None)

def resource_drop(index, obj):
    handle = obj._wit_handle
    if handle is not None:
        obj._wit_handle = None
        drops.append((index, handle))
";

/// Prints the registry one line per entry (checked against the metadata).
const DESCRIBE_REGISTRY: &str = r#"
import wit_world._registry as r
for cls, fields in r.RECORDS:
    print("record", cls.__name__, ",".join(fields))
for cls in r.FLAGS:
    print("flags", cls.__name__, ",".join(f"{m.name}={m.value}" for m in cls))
for cls in r.ENUMS:
    print("enum", cls.__name__, ",".join(f"{m.name}={m.value}" for m in cls))
for cases in r.VARIANTS:
    print("variant", ",".join(c.__name__ for c in cases))
for entry in r.RESOURCES:
    print("resource", entry if isinstance(entry, tuple) else entry.__name__)
for entry in r.EXPORTS:
    print("export", entry)
"#;

/// Generated bindings written to a temporary directory.
struct Generated {
    dir: tempfile::TempDir,
    files: Vec<(String, String)>,
    /// The output of [`DESCRIBE_REGISTRY`].
    registry: String,
    metadata: wit_dylib::Metadata,
}

impl Generated {
    fn file(&self, path: &str) -> &str {
        let found = self.files.iter().find(|(p, _)| p == path);
        &found.unwrap_or_else(|| panic!("no file {path}\n{}", self.dump())).1
    }

    /// Run `script` with the bindings and the runtime stub importable.
    fn python(&self, script: &str) -> String {
        let output = Command::new("python3")
            .arg("-c")
            .arg(script)
            .env("PYTHONPATH", self.dir.path())
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output()
            .expect("run python3");
        assert!(
            output.status.success(),
            "python failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stderr),
            self.dump()
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// The registry's `export` lines.
    fn exports(&self) -> Vec<&str> {
        self.registry.lines().filter_map(|l| l.strip_prefix("export ")).collect()
    }

    fn dump(&self) -> String {
        self.files.iter().map(|(p, c)| format!("==== {p}\n{c}")).collect()
    }
}

/// Parse `wit`, make the bindings library's metadata for `world`,
/// generate, write the files, check that each compiles, that every
/// module imports, and that the registry matches the metadata.
fn generate_and_check(wit: &str, world: &str) -> Generated {
    let mut resolve = Resolve::new();
    let package = resolve.push_str("test.wit", wit).expect("parse WIT");
    let world = resolve.select_world(&[package], Some(world)).expect("select world");
    let (_, metadata) =
        wit_dylib::create_with_metadata(&resolve, world, None).expect("wit-dylib");
    let files = generate(&resolve, world, &metadata).expect("generate");

    let paths: Vec<&String> = files.iter().map(|(p, _)| p).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted, "files are sorted by path");
    let again = generate(&resolve, world, &metadata).expect("generate again");
    assert_eq!(files, again, "output is deterministic");

    let dir = tempfile::tempdir().unwrap();
    for (path, contents) in &files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }
    std::fs::write(dir.path().join("componentize_py_runtime.py"), RUNTIME_STUB).unwrap();
    let (types_file, types_source) = super::types_module_file();
    std::fs::write(dir.path().join(types_file), types_source).unwrap();
    for (path, contents) in super::async_support_files(&resolve, world) {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }
    let mut generated = Generated { dir, files, registry: String::new(), metadata };

    for (path, _) in &generated.files {
        let output = Command::new("python3")
            .args(["-m", "py_compile"])
            .arg(generated.dir.path().join(path))
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output()
            .expect("run python3");
        assert!(
            output.status.success(),
            "{path} does not compile:\n{}\n{}",
            String::from_utf8_lossy(&output.stderr),
            generated.dump()
        );
    }

    // `_registry` first and alone: it must not depend on import order.
    generated.registry = generated.python(DESCRIBE_REGISTRY);
    let all_modules = generated
        .files
        .iter()
        .map(|(p, _)| {
            let module = p.trim_end_matches(".py").trim_end_matches("/__init__");
            format!("import {}\n", module.replace('/', "."))
        })
        .collect::<String>();
    generated.python(&all_modules);

    let registry = generated.registry.lines().filter(|l| !l.starts_with("export "));
    let expected = expected_registry(&generated.metadata);
    assert_eq!(registry.collect::<Vec<_>>(), expected, "{}", generated.dump());
    assert_eq!(generated.exports().len(), generated.metadata.export_funcs.len());
    generated
}

/// The registry lines (all but exports) the metadata calls for.
fn expected_registry(metadata: &wit_dylib::Metadata) -> Vec<String> {
    let class = |name: &str| module_level_name(name.to_upper_camel_case());
    let mut out = Vec::new();
    for r in &metadata.records {
        let fields: Vec<String> = r.fields.iter().map(|(n, _)| field_name(n)).collect();
        out.push(format!("record {} {}", class(&r.name), fields.join(",")));
    }
    for f in &metadata.flags {
        let members: Vec<String> = (f.names.iter().enumerate())
            .map(|(i, n)| format!("{}={}", member_name(n), 1u64 << i))
            .collect();
        out.push(format!("flags {} {}", class(&f.name), members.join(",")));
    }
    for e in &metadata.enums {
        let members: Vec<String> = (e.names.iter().enumerate())
            .map(|(i, n)| format!("{}={i}", member_name(n)))
            .collect();
        out.push(format!("enum {} {}", class(&e.name), members.join(",")));
    }
    for v in &metadata.variants {
        let cases: Vec<String> =
            v.cases.iter().map(|(c, _)| variant_case_class(&class(&v.name), c)).collect();
        out.push(format!("variant {}", cases.join(",")));
    }
    for r in &metadata.resources {
        let class = class(&r.name);
        match r.new_elem_index {
            None => out.push(format!("resource {class}")),
            Some(_) => {
                let interface = r.interface.as_deref().unwrap();
                let leaf = interface.rsplit('/').next().unwrap();
                let leaf = leaf.split('@').next().unwrap().to_snake_case();
                out.push(format!("resource ('{leaf}', '{class}')"));
            }
        }
    }
    out
}

#[test]
fn bindings_hello() {
    let generated = generate_and_check(
        "package test:hello;
            world hello {
                export hello: func(name: string) -> string;
            }",
        "hello",
    );
    assert_eq!(generated.exports(), ["('WitWorld', 'hello')"]);
    let init = generated.file("wit_world/__init__.py");
    assert!(init.contains("class WitWorld(Protocol):"), "{init}");
    assert!(init.contains("def hello(self, name: str) -> str:"), "{init}");
    let paths: Vec<&str> = generated.files.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "wit_world/__init__.py",
            "wit_world/_registry.py",
        ]
    );
}

const BIG: &str = r#"
package test:big@1.0.0;

/// Shared types.
interface shapes {
    /// A point.
    record point {
        /// Horizontal.
        x: s32,
        y: s32,
    }
    /// Colors.
    enum color {
        red,
        green,
        /// The sky's.
        light-blue,
    }
    /// Permissions.
    flags perms {
        /// May read.
        read,
        write,
        exec,
    }
    /// A shape.
    variant shape {
        /// A circle: its radius.
        circle(f64),
        rect(tuple<u32, u32>),
        none,
    }
    /// Raw bytes.
    type raw = list<u8>;
    record unit-like { x: bool }
    /// A blob of bytes.
    resource blob {
        /// A blob holding `init`.
        constructor(init: list<u8>);
        /// Append `bytes`.
        write: func(bytes: list<u8>);
        read: func(n: u32) -> list<u8>;
        merge: static func(lhs: blob, rhs: borrow<blob>) -> blob;
    }
}

/// The API.
interface api {
    use shapes.{point, color, perms, shape as figure, blob, raw};
    enum error-code { not-found, denied }
    record everything {
        p: point,
        c: color,
        perms: perms,
        s: figure,
        maybe: option<u32>,
        nested: option<option<string>>,
        res: result<u32, string>,
        unit-res: result,
        tup: tuple<u8, string, char>,
        nums: list<u32>,
        raw: list<u8>,
        raw2: raw,
        class: string,
        lambda: list<list<point>>,
    }
    /// Look up `key`.
    get: func(key: string) -> option<string>;
    /// May fail.
    try-get: func(key: string) -> result<string, error-code>;
    nothing: func() -> result;
    move-point: func(p: point, dx: s32) -> point;
    consume: func(b: blob) -> tuple<blob, u32>;
    yield: func(in: u32, pass: bool);
    str: func() -> string;
}

/// Handles requests.
interface handler {
    use shapes.{point};
    use api.{everything};
    record request { everything: everything, at: point }
    /// Handle one request.
    handle: func(r: request) -> result<list<u8>>;
    check: func() -> result<_, string>;
}

/// The big world.
world big {
    import api;
    use shapes.{point};
    record world-rec { a: u32, p: point }
    /// A or B.
    variant world-var { a, b(world-rec) }
    /// Log `msg`.
    import log: func(msg: string, level: u8);
    /// Run at `p`.
    export run: func(p: point) -> result<world-rec, string>;
    export handler;
    export inline: interface {
        greet: func(name: string) -> string;
    }
}
"#;

#[test]
fn bindings_big_world() {
    let generated = generate_and_check(BIG, "big");
    assert_eq!(
        generated.exports(),
        [
            "('WitWorld', 'run')",
            "('Handler', 'handle')",
            "('Handler', 'check')",
            "('Inline', 'greet')",
        ]
    );
    let api = generated.file("wit_world/imports/api.py");
    for expected in [
        "from .shapes import Point as Point",
        "from .shapes import Shape as Figure",
        "nested: Optional[Some[Optional[str]]]",
        "res: Result[int, str]",
        "unit_res: Result[None, None]",
        "tup: Tuple[int, str, str]",
        "raw: bytes",
        "class_: str",
        "lambda_: List[List[shapes.Point]]",
        "def try_get(key: str) -> str:",
        "Raises: `componentize_py_types.Err(ErrorCode)`",
        "def nothing() -> None:",
        "def yield_(in_: int, pass_: bool) -> None:",
        "def str_() -> str:",
        "DENIED = 1",
    ] {
        assert!(api.contains(expected), "missing {expected:?}:\n{api}");
    }
    let exports = generated.file("wit_world/exports/__init__.py");
    assert!(exports.contains("class Handler(Protocol):"), "{exports}");
    assert!(exports.contains("def handle(self, r: handler.Request) -> bytes:"), "{exports}");
    assert!(exports.contains("class Inline(Protocol):"), "{exports}");

    // Behaviour: values, calls through the runtime stub, resources.
    let index = |interface: Option<&str>, name: &str| {
        let funcs = &generated.metadata.import_funcs;
        let found = funcs.iter().position(|f| {
            f.interface.as_deref() == interface && f.name == name
        });
        found.unwrap_or_else(|| panic!("no import {name}"))
    };
    let shapes = Some("test:big/shapes@1.0.0");
    let (blob_new, blob_write, blob_merge) = (
        index(shapes, "[constructor]blob"),
        index(shapes, "[method]blob.write"),
        index(shapes, "[static]blob.merge"),
    );
    let out = generated.python(
        &r#"
import componentize_py_runtime as rt
from wit_world import WitWorld, WorldVar_B, WorldRec, log
from wit_world.imports import api, shapes
from componentize_py_types import Some, Ok, Err
assert issubclass(Err, Exception)
p = shapes.Point(x=1, y=2)
assert api.Point is shapes.Point
assert shapes.Shape_Circle(1.5).value == 1.5 and shapes.Shape_None_() == shapes.Shape_None_()
assert shapes.Perms.READ | shapes.Perms.EXEC == shapes.Perms(5)
assert shapes.Color.LIGHT_BLUE.value == 2
log("hi", 3)
api.get("k")
api.move_point(p, 4)
print(rt.calls)
made = shapes.Blob.__new__(shapes.Blob)
made._wit_handle = 7
rt.results[BLOB_NEW] = made
blob = shapes.Blob(b"x")
with blob as b:
    assert b is blob and made._wit_handle is None
    b.write(b"y")
    rt.results[BLOB_MERGE] = "merged"
    assert shapes.Blob.merge(b, b) == "merged"
blob.__del__()
shown = lambda a: type(a).__name__ if isinstance(a, shapes.Blob) else a
print([(i, tuple(map(shown, args))) for i, args in rt.calls[3:]], rt.drops, blob._wit_handle)
print(WorldVar_B(WorldRec(1, p)))
import inspect
print(inspect.getdoc(api.try_get).splitlines())
"#
        .replace("BLOB_NEW", &blob_new.to_string())
        .replace("BLOB_MERGE", &blob_merge.to_string()),
    );
    let lines: Vec<&str> = out.lines().collect();
    let api = Some("test:big/api@1.0.0");
    let (log, get, move_point) =
        (index(None, "log"), index(api, "get"), index(api, "move-point"));
    let calls = format!(
        "[({log}, ('hi', 3)), ({get}, ('k',)), ({move_point}, (Point(x=1, y=2), 4))]"
    );
    assert_eq!(lines[0], calls);
    let blob_index = generated
        .metadata
        .resources
        .iter()
        .position(|r| r.name == "blob")
        .unwrap();
    assert_eq!(
        lines[1],
        format!(
            "[({blob_new}, (b'x',)), ({blob_write}, ('Blob', b'y')), \
                 ({blob_merge}, ('Blob', 'Blob'))] [({blob_index}, 7)] None"
        )
    );
    assert_eq!(lines[2], "WorldVar_B(value=WorldRec(a=1, p=Point(x=1, y=2)))");
    assert_eq!(lines[3], "['May fail.', '', 'Raises: `componentize_py_types.Err(ErrorCode)`']");
}

/// Lists every docstring of the generated package, one `key=doc` line
/// each (newlines as `\n`): module docstrings as `path:`, classes and
/// functions as `path:Class.name`, and attribute docstrings (a string
/// right after an assignment: fields, members, type aliases) likewise.
const LIST_DOCSTRINGS: &str = r#"
import ast, inspect, os, pathlib
root = pathlib.Path(os.environ["PYTHONPATH"])
def walk(body, prefix, path):
    for i, node in enumerate(body):
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            name = prefix + node.name
            doc = ast.get_docstring(node)
            if doc is not None:
                print(f"{path}:{name}=" + doc.replace("\n", "\\n"))
            if isinstance(node, ast.ClassDef):
                walk(node.body, name + ".", path)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            after = body[i + 1] if i + 1 < len(body) else None
            if (isinstance(target, ast.Name) and isinstance(after, ast.Expr)
                    and isinstance(after.value, ast.Constant)
                    and isinstance(after.value.value, str)):
                doc = inspect.cleandoc(after.value.value)
                print(f"{path}:{prefix}{target.id}=" + doc.replace("\n", "\\n"))
for file in sorted(root.rglob("*.py")):
    path = file.relative_to(root).as_posix()
    tree = ast.parse(file.read_text())
    doc = ast.get_docstring(tree)
    if doc is not None:
        print(f"{path}:=" + doc.replace("\n", "\\n"))
    walk(tree.body, "", path)
"#;

#[test]
fn wit_docs_become_docstrings() {
    let generated = generate_and_check(BIG, "big");
    let listed = generated.python(LIST_DOCSTRINGS);
    let docs: HashMap<&str, &str> =
        listed.lines().filter_map(|line| line.split_once('=')).collect();
    let expected = [
        // Interfaces and the world: module (and Protocol) docstrings.
        ("wit_world/__init__.py:", "The big world."),
        ("wit_world/imports/shapes.py:", "Shared types."),
        ("wit_world/imports/api.py:", "The API."),
        ("wit_world/exports/handler.py:", "Handles requests."),
        ("wit_world/exports/__init__.py:Handler", "Handles requests."),
        // Functions: imported, exported, world-level, resource methods.
        ("wit_world/imports/api.py:get", "Look up `key`."),
        ("wit_world/__init__.py:log", "Log `msg`."),
        (
            "wit_world/__init__.py:WitWorld.run",
            "Run at `p`.\\n\\nRaises: `componentize_py_types.Err(str)`",
        ),
        (
            "wit_world/exports/__init__.py:Handler.handle",
            "Handle one request.\\n\\nRaises: `componentize_py_types.Err(None)`",
        ),
        ("wit_world/imports/shapes.py:Blob", "A blob of bytes."),
        ("wit_world/imports/shapes.py:Blob.__init__", "A blob holding `init`."),
        ("wit_world/imports/shapes.py:Blob.write", "Append `bytes`."),
        // Types, fields, cases, members, aliases.
        ("wit_world/imports/shapes.py:Point", "A point."),
        ("wit_world/imports/shapes.py:Point.x", "Horizontal."),
        ("wit_world/imports/shapes.py:Color", "Colors."),
        ("wit_world/imports/shapes.py:Color.LIGHT_BLUE", "The sky's."),
        ("wit_world/imports/shapes.py:Perms", "Permissions."),
        ("wit_world/imports/shapes.py:Perms.READ", "May read."),
        ("wit_world/imports/shapes.py:Shape", "A shape."),
        ("wit_world/imports/shapes.py:Shape_Circle", "A circle: its radius."),
        ("wit_world/imports/shapes.py:Raw", "Raw bytes."),
        ("wit_world/__init__.py:WorldVar", "A or B."),
    ];
    let mut missing = Vec::new();
    for (key, doc) in expected {
        if docs.get(key) != Some(&doc) {
            missing.push(format!("{key}: expected {doc:?}, found {:?}", docs.get(key)));
        }
    }
    assert!(missing.is_empty(), "{}\n\nall docstrings:\n{listed}", missing.join("\n"));
    // Undocumented items get none.
    for key in ["wit_world/imports/shapes.py:Point.y", "wit_world/imports/shapes.py:Perms.WRITE"]
    {
        assert!(!docs.contains_key(key), "{key} has a docstring:\n{listed}");
    }
}

/// The shape "an import takes `borrow<r>` of a resource the world
/// exports" does not exist: imports cannot name an export's types, so
/// wit-parser imports the exported interface as well and the import
/// takes that imported twin (a different resource, with its own class).
#[test]
fn import_using_an_exported_resource_gets_the_imported_twin() {
    let generated = generate_and_check(
        "package test:shape;
            interface api { resource blob { constructor(); } }
            interface host { use api.{blob}; look: func(b: borrow<blob>) -> u32; }
            world w { import host; export api; }",
        "w",
    );
    let metadata = &generated.metadata;
    let look = metadata.import_funcs.iter().find(|f| f.name == "look").expect("look");
    let wit_dylib::metadata::Type::Borrow(index) = look.args[0] else {
        panic!("`look` does not take a borrow");
    };
    let resource = &metadata.resources[index];
    assert_eq!(resource.interface.as_deref(), Some("test:shape/api"));
    assert!(resource.new_elem_index.is_none(), "`look` takes the exported blob");
    assert!(metadata.resources.iter().any(|r| r.new_elem_index.is_some()));
    assert!(generated.registry.contains("resource Blob\nresource ('api', 'Blob')"));
    let host = generated.file("wit_world/imports/host.py");
    assert!(host.contains("from .api import Blob as Blob"), "{host}");
    assert!(host.contains("from . import api\n"), "{host}");
    assert!(host.contains("def look(b: api.Blob) -> int:"), "{host}");
    let out = generated.python(
        "from wit_world.imports.api import Blob as Imported\n\
             from wit_world.exports.api import Blob as Exported\n\
             print(Imported is Exported)",
    );
    assert_eq!(out.trim(), "False");
}

#[test]
fn bindings_name_collisions_and_shared_interfaces() {
    let generated = generate_and_check(
        r#"
package test:main;

package wasi:foo {
    interface types {
        record a { x: u32 }
        get: func() -> a;
    }
}

package other:bar {
    interface types {
        variant b { x(u32), y }
        put: func(b: b);
    }
    interface both {
        enum mode { on, off }
        resource counter {
            constructor();
            bump: func(by: u32) -> u32;
        }
        toggle: func(m: mode) -> mode;
    }
}

world w {
    import wasi:foo/types;
    import other:bar/types;
    import other:bar/both;
    export other:bar/both;
}
"#,
        "w",
    );
    generated.file("wit_world/imports/wasi_foo_types.py");
    generated.file("wit_world/imports/other_bar_types.py");
    generated.file("wit_world/exports/both.py");
    // Resource functions name the exported resource (index 1: the
    // imported `counter` comes first).
    assert_eq!(
        generated.exports(),
        ["(1, '__init__', 'constructor')", "(1, 'bump', 'method')", "('Both', 'toggle')"]
    );
    assert!(generated.registry.contains("resource Counter\nresource ('both', 'Counter')"));
    // Shared types are the imported interface's; the resource has a
    // flavour per direction.
    let out = generated.python(
        "from wit_world.exports.both import Mode, Counter\n\
             from wit_world.imports.both import Mode as M, Counter as C\n\
             from typing import Protocol\n\
             print(Mode is M, Counter is C, issubclass(Counter, Protocol), C._wit_handle)",
    );
    assert_eq!(out.trim(), "True False True None");
    let exports = generated.file("wit_world/exports/both.py");
    assert!(exports.contains("class Counter(Protocol):"), "{exports}");
    assert!(exports.contains("    @abstractmethod\n    def bump(self, by: int) -> int:"), "{exports}");
}

/// A runtime stand-in for the async ABI: `call_import_async` answers
/// "pending" with subtask 7 for import 0 and at once for the others;
/// `call_task_return`, the waitable and context functions record.
const ASYNC_RUNTIME_STUB: &str = "\
log = []
slot = [None]

def call_import(index, args):
    raise AssertionError('sync call of an async import')

def call_import_async(index, args):
    log.append(('call', index, args))
    if index == 0:
        return (7, ('promise', args))
    return (0, args[0] + 1)

def promise_get_result(promise):
    log.append(('lift', promise))
    return promise[1][1][::-1]

def call_task_return(index, cx, value, is_err):
    log.append(('return', index, cx, value, is_err))

def waitable_set_new():
    log.append(('set-new',))
    return 3

def waitable_set_drop(s):
    log.append(('set-drop', s))

def waitable_join(w, s):
    log.append(('join', w, s))

def subtask_drop(t):
    log.append(('subtask-drop', t))

def context_set(value):
    slot[0] = value

def context_get():
    return slot[0]
";

#[test]
fn async_functions_are_coroutines_run_by_the_support_loop() {
    let wit = "
        package test:asyncs;
        interface host {
            later: async func(ms: u32, value: string) -> string;
            now: async func(value: u32) -> u32;
        }
        world asyncs {
            import host;
            export relay: async func(ms: u32, value: string) -> string;
        }
    ";
    let generated = generate_and_check(wit, "asyncs");
    let host = generated.file("wit_world/imports/host.py");
    assert!(host.contains("async def later(ms: int, value: str) -> str:"), "{host}");
    assert!(host.contains("result: str = await _async.call_import("), "{host}");
    assert!(host.contains("import componentize_py_async_support as _async"), "{host}");
    let world = generated.file("wit_world/__init__.py");
    assert!(world.contains("    async def relay(self, ms: int, value: str) -> str:"), "{world}");

    // The support package drives an export's coroutine: the first poll
    // waits on the import's subtask, the host's RETURNED event finishes it.
    std::fs::write(generated.dir.path().join("componentize_py_runtime.py"), ASYNC_RUNTIME_STUB)
        .unwrap();
    let out = generated.python(
        "
import componentize_py_runtime as rt
import componentize_py_async_support as s
from wit_world.imports import host

async def relay(ms, value):
    return (await host.later(ms, value)) + '!' + str(await host.now(41))

code = s.first_poll(2, 99, relay(5, 'abc'))
print(code == 2 | (3 << 4), rt.slot[0] is not None)
print(s.callback(1, 7, 2), rt.slot[0])
for entry in rt.log:
    print(entry)
",
    );
    assert_eq!(
        out,
        "True True\n0 None\n\
         ('call', 0, (5, 'abc'))\n('set-new',)\n('join', 7, 3)\n('join', 7, 0)\n\
         ('subtask-drop', 7)\n('lift', ('promise', (5, 'abc')))\n('call', 1, (41,))\n\
         ('return', 2, 99, 'cba!42', False)\n('set-drop', 3)\n"
    );
    // A sync world gets no support package.
    let sync = "package test:s; world s { export f: func(); }";
    let mut resolve = Resolve::new();
    let package = resolve.push_str("s.wit", sync).unwrap();
    let world_id = resolve.select_world(&[package], Some("s")).unwrap();
    assert!(super::async_support_files(&resolve, world_id).is_empty());
}

#[test]
fn streams_and_futures_get_upstreams_constructors_and_reader_annotations() {
    let wit = "
        package test:sf;
        interface types {
            record point { x: u32 }
        }
        world w {
            use types.{point};
            export echo: async func(a: stream<u8>, b: stream<point>, c: future<string>, d: future, e: stream<list<u8>>) -> stream<option<u32>>;
            export again: async func(a: stream<u8>, c: future<string>) -> stream<point>;
        }
    ";
    let generated = generate_and_check(wit, "w");
    let init = generated.file("wit_world/__init__.py");
    for expected in [
        "def byte_stream() -> Tuple[ByteStreamWriter, ByteStreamReader]:",
        // A `use`d type is spelled as its definition, as upstream does.
        "def types_point_stream() -> Tuple[StreamWriter[types.Point], StreamReader[types.Point]]:",
        "def list_u8_stream() -> Tuple[StreamWriter[bytes], StreamReader[bytes]]:",
        "def option_u32_stream() -> Tuple[StreamWriter[Optional[int]], StreamReader[Optional[int]]]:",
        "def string_future(default: Callable[[], str]) -> Tuple[FutureWriter[str], FutureReader[str]]:",
        "def unit_future(default: Callable[[], None]) -> Tuple[FutureWriter[None], FutureReader[None]]:",
        "from componentize_py_async_support.streams import ByteStreamReader, ByteStreamWriter, StreamReader, StreamWriter",
        "async def echo(self, a: ByteStreamReader, b: StreamReader[types.Point], c: FutureReader[str], \
         d: FutureReader[None], e: StreamReader[bytes]) -> StreamReader[Optional[int]]:",
    ] {
        assert!(init.contains(expected), "missing {expected:?} in:\n{init}");
    }
    // One constructor per payload, with the index of its first type.
    assert_eq!(init.matches("def byte_stream(").count(), 1, "{init}");
    assert_eq!(init.matches("def string_future(").count(), 1, "{init}");
    let first_u8 = generated.metadata.streams.iter().position(|s| {
        matches!(s.ty, Some(wit_dylib::metadata::Type::U8))
    });
    assert!(init.contains(&format!("_rt.stream_new({})", first_u8.unwrap())), "{init}");
    // The support package's classes import with any Python (the runtime is
    // needed only to use them).
    let out = generated.python(
        "import componentize_py_async_support.streams as s, componentize_py_async_support.futures as f\n\
         print(s.ByteStreamReader.read.__name__, s.StreamWriter.write_all.__name__, f.FutureWriter.write.__name__)",
    );
    assert_eq!(out, "read write_all write\n");
}
