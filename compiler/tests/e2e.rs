//! End-to-end tests: the real `componentize-py` binary builds components
//! from the fixtures under `tests/fixtures/` and `examples/`, and the
//! embedded Wasmtime runs them. Needs the toolchain from `scripts/setup.sh`.

use anyhow::{anyhow, Result};
use componentize_py::run;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use wasmtime::component::{Linker, Val};

mod common;
use common::{compiler, componentize_py, repo, text};

/// Build a component and assert success.
fn build(dir: &Path, wit: &str, world: &str, app: &str, out: &Path) {
    let out = out.to_str().unwrap();
    let output = componentize_py(dir, &["-d", wit, "-w", world, "componentize", app, "-p", ".", "-o", out]);
    assert!(output.status.success(), "build failed: {}", text(&output.stderr));
    assert!(Path::new(out).is_file());
}

/// Build that must fail: returns stderr, and checks no output was written.
fn build_fails(dir: &Path, wit: &str, world: &str, app: &str) -> String {
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("out.wasm");
    let output = componentize_py(
        dir,
        &["-d", wit, "-w", world, "componentize", app, "-p", ".", "-o", target.to_str().unwrap()],
    );
    assert!(!output.status.success(), "build unexpectedly succeeded");
    assert!(!target.exists(), "a failed build left an output file");
    let leftovers: Vec<_> = std::fs::read_dir(out.path()).unwrap().collect();
    assert!(leftovers.is_empty(), "a failed build left files: {leftovers:?}");
    text(&output.stderr)
}

#[test]
fn hello_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let wasm = tmp.path().join("hello.wasm");
    build(&repo().join("examples/hello"), "hello.wit", "hello", "app", &wasm);
    let output = compiler()
        .args(["run", "--invoke", r#"hello("world")"#, wasm.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "\"Hello, world!\"\n");
}

#[test]
fn hello_is_byte_identical_across_checkouts() {
    let mut outputs = Vec::new();
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    for dir in &dirs {
        for file in ["hello.wit", "app.py"] {
            std::fs::copy(repo().join("examples/hello").join(file), dir.path().join(file)).unwrap();
        }
    }
    // Two checkouts, and a rebuild in the first one, where the previous
    // output now sits in the app's folder.
    for dir in [&dirs[0], &dirs[1], &dirs[0]] {
        let wasm = dir.path().join("hello.wasm");
        build(dir.path(), "hello.wit", "hello", "app", &wasm);
        outputs.push(std::fs::read(&wasm).unwrap());
    }
    assert!(outputs[0] == outputs[1], "builds in two folders differ");
    assert!(outputs[0] == outputs[2], "a rebuild differs from the first build");
}

/// Files in the app's folder that Python cannot import (an earlier build's
/// output under another name, an editor's swap and backup files, a VCS
/// folder, notes) do not change the output: only what the import system
/// can load reaches the snapshot.
#[test]
fn files_python_cannot_import_leave_no_trace() {
    let app = tempfile::tempdir().unwrap();
    for file in ["hello.wit", "app.py"] {
        std::fs::copy(repo().join("examples/hello").join(file), app.path().join(file)).unwrap();
    }
    let out = tempfile::tempdir().unwrap();
    let first = out.path().join("first.wasm");
    build(app.path(), "hello.wit", "hello", "app", &first);
    let first = std::fs::read(&first).unwrap();

    std::fs::write(app.path().join("other.wasm"), &first).unwrap();
    std::fs::write(app.path().join(".app.py.swp"), b"swap file of an editor").unwrap();
    std::fs::write(app.path().join("app.py~"), b"backup").unwrap();
    std::fs::write(app.path().join("NOTES.txt"), b"notes").unwrap();
    std::fs::create_dir(app.path().join(".git")).unwrap();
    std::fs::write(app.path().join(".git/HEAD"), b"ref: refs/heads/main").unwrap();
    let second = out.path().join("second.wasm");
    build(app.path(), "hello.wit", "hello", "app", &second);
    assert!(
        first == std::fs::read(&second).unwrap(),
        "files Python cannot import changed the output"
    );
}

/// Byte code that the machine's own Python left in `__pycache__` folders of
/// the app (after `python3 app.py` or a test run; here a stale pyc of the
/// app, one of a package module, and a stray file) does not change the
/// output: while initialising, the guest sees no `__pycache__` of the host.
#[test]
fn host_pycache_folders_leave_no_trace() {
    let app = tempfile::tempdir().unwrap();
    for file in ["hello.wit", "app.py"] {
        std::fs::copy(repo().join("examples/hello").join(file), app.path().join(file)).unwrap();
    }
    // A package the app imports, so that its folder is looked into too.
    std::fs::create_dir(app.path().join("helpers")).unwrap();
    std::fs::write(app.path().join("helpers/__init__.py"), "GREETING = 'Hello'\n").unwrap();
    let source = std::fs::read_to_string(app.path().join("app.py")).unwrap();
    std::fs::write(app.path().join("app.py"), format!("import helpers\n{source}")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let first = out.path().join("first.wasm");
    build(app.path(), "hello.wit", "hello", "app", &first);
    let first = std::fs::read(&first).unwrap();

    let status = Command::new("python3")
        .args(["-c", "import py_compile; py_compile.compile('app.py', cfile='__pycache__/app.cpython-311.pyc'); py_compile.compile('helpers/__init__.py', cfile='helpers/__pycache__/__init__.cpython-311.pyc')"])
        .current_dir(app.path())
        .status()
        .unwrap();
    assert!(status.success(), "python3 could not compile the app");
    std::fs::write(app.path().join("__pycache__/stray.txt"), b"left by a tool").unwrap();
    let second = out.path().join("second.wasm");
    build(app.path(), "hello.wit", "hello", "app", &second);
    assert!(first == std::fs::read(&second).unwrap(), "the host's __pycache__ changed the output");
}

/// The pre-initialisation run's code never changes the output: the linked
/// run (interpreter and bindings library as two instances) with code from
/// Winch or Cranelift, compiled, from the cache or precompiled in the
/// toolchain, gives the same bytes as running the merged module. The
/// `types` world has WIT imports (traps while initialising) and many
/// exports.
#[test]
fn preinit_modes_and_compilers_give_identical_output() {
    let dir = repo().join("tests/fixtures/types");
    let out = tempfile::tempdir().unwrap();
    // The checkout's toolchain without its precompiled interpreters, so
    // that the first builds compile.
    let bare = tempfile::tempdir().unwrap();
    let runtime = repo().join(".toolchain/runtime");
    std::fs::create_dir(bare.path().join("runtime")).unwrap();
    for file in ["interpreter.wasm", "interpreter-async.wasm"] {
        std::fs::copy(runtime.join(file), bare.path().join("runtime").join(file)).unwrap();
    }
    std::os::unix::fs::symlink(runtime.join("python"), bare.path().join("runtime/python")).unwrap();
    let full = repo().join(".toolchain");
    let (cache, empty_cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut outputs = Vec::new();
    for (mode, code, toolchain, cache, want) in [
        ("linked", "winch", bare.path(), cache.path(), "interpreter (compiled, winch)"),
        ("linked", "winch", bare.path(), cache.path(), "interpreter (cached, winch)"),
        ("linked", "cranelift", bare.path(), cache.path(), "interpreter (compiled, cranelift)"),
        ("linked", "", bare.path(), cache.path(), "interpreter (cached, cranelift)"),
        ("merged", "", bare.path(), cache.path(), ""),
        ("linked", "", full.as_path(), empty_cache.path(), "interpreter (precompiled, cranelift)"),
    ] {
        let wasm = out.path().join("types.wasm");
        let output = compiler()
            .current_dir(&dir)
            .env("COMPONENTIZE_PY_CACHE_DIR", cache)
            .env("COMPONENTIZE_PY_PREINIT_MODE", mode)
            .env("COMPONENTIZE_PY_PREINIT_COMPILER", code)
            .arg("--toolchain")
            .arg(toolchain)
            .args(["-v", "-d", "types.wit", "-w", "types", "componentize", "app", "-p", "."])
            .args(["-o", wasm.to_str().unwrap()])
            .output()
            .unwrap();
        let stderr = text(&output.stderr);
        assert!(output.status.success(), "{mode}/{code} build failed: {stderr}");
        assert!(stderr.contains(want), "{mode}/{code}: want `{want}`:\n{stderr}");
        outputs.push((format!("{mode}/{code}"), std::fs::read(&wasm).unwrap()));
    }
    for (name, bytes) in &outputs[1..] {
        assert!(*bytes == outputs[0].1, "{name} differs from {}", outputs[0].0);
    }
}

#[test]
fn cli_command_prints_to_stdout() {
    let tmp = tempfile::tempdir().unwrap();
    let wasm = tmp.path().join("cli.wasm");
    build(&repo().join("examples/cli"), "wit", "wasi:cli/command@0.2.0", "cli", &wasm);
    let output = compiler()
        .args(["run", wasm.to_str().unwrap(), "a", "b"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout),
        "Hello from a wasi:cli/command component!\nargv: ['a', 'b']\n"
    );
}

/// Build the `types` fixture once per test that needs it.
fn types_component() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let wasm = tmp.path().join("types.wasm");
    build(&repo().join("tests/fixtures/types"), "types.wit", "types", "app", &wasm);
    (tmp, wasm)
}

/// A host for the `types` world: WASI plus `test:types/host`, logging what
/// the guest sends.
struct TypesHost {
    store: wasmtime::Store<run::Host>,
    component: wasmtime::component::Component,
    instance: wasmtime::component::Instance,
    log: Arc<Mutex<Vec<String>>>,
    runtime: tokio::runtime::Runtime,
}

impl TypesHost {
    fn new(wasm: &Path) -> Result<Self> {
        let engine = run::engine()?;
        let component = run::load(&engine, wasm)?;
        let mut linker: Linker<run::Host> = run::linker(&engine)?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut host = linker.instance("test:types/host").map_err(|e| anyhow!("{e:?}"))?;
        let sink = log.clone();
        host.func_new("log", move |_, _, params, _| {
            if let Val::String(s) = &params[0] {
                sink.lock().unwrap().push(s.clone());
            }
            Ok(())
        })
        .map_err(|e| anyhow!("{e:?}"))?;
        host.func_new("add", |_, _, params, results| {
            match (&params[0], &params[1]) {
                (Val::U32(a), Val::U32(b)) => results[0] = Val::U32(a + b),
                _ => unreachable!(),
            }
            Ok(())
        })
        .map_err(|e| anyhow!("{e:?}"))?;
        host.func_new("fetch", |_, _, params, results| {
            let Val::String(key) = &params[0] else { unreachable!() };
            results[0] = if key == "present" {
                Val::Result(Ok(Some(Box::new(Val::String("value!".into())))))
            } else {
                Val::Result(Err(Some(Box::new(Val::String("not found".into())))))
            };
            Ok(())
        })
        .map_err(|e| anyhow!("{e:?}"))?;
        let mut store = run::store(&engine, &["types".to_string()]);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let instance = runtime
            .block_on(linker.instantiate_async(&mut store, &component))
            .map_err(|e| anyhow!("{e:?}"))?;
        Ok(TypesHost { store, component, instance, log, runtime })
    }

    /// Call an export given in WAVE; return the results in WAVE.
    fn call(&mut self, call: &str) -> Result<String> {
        let results = self.runtime.block_on(run::call_wave(
            &mut self.store,
            &self.component,
            &self.instance,
            call,
        ))?;
        let text: Vec<String> = results
            .iter()
            .map(|v| wasmtime::component::wasm_wave::to_string(v).unwrap())
            .collect();
        Ok(text.join(" "))
    }
}

#[test]
fn every_value_type_round_trips() {
    let (_tmp, wasm) = types_component();
    let mut host = TypesHost::new(&wasm).unwrap();
    let echoes = [
        ("echo-bool", "true"),
        ("echo-bool", "false"),
        ("echo-u8", "255"),
        ("echo-u16", "65535"),
        ("echo-u32", "4294967295"),
        ("echo-u64", "18446744073709551615"),
        ("echo-s8", "-128"),
        ("echo-s16", "-32768"),
        ("echo-s32", "-2147483648"),
        ("echo-s64", "-9223372036854775808"),
        ("echo-f32", "1.5"),
        ("echo-f64", "-0.000123"),
        ("echo-f64", "nan"),
        ("echo-char", "'ß'"),
        ("echo-char", "'🦀'"),
        ("echo-string", r#""héllo wörld ✓""#),
        ("echo-string", r#""""#),
        ("echo-bytes", "[0, 1, 2, 255]"),
        ("echo-bytes", "[]"),
        ("echo-strings", r#"["a", "bc", ""]"#),
        ("echo-points", "[{x: 1, y: -2}, {x: 3, y: 4}]"),
        ("echo-tuple", r#"(7, "seven", 7.5)"#),
        ("echo-option", r#"some("x")"#),
        ("echo-option", "none"),
        ("echo-nested", "some(some(5))"),
        ("echo-nested", "some(none)"),
        ("echo-nested", "none"),
        ("echo-result", "ok(3)"),
        ("echo-result", r#"err("bad")"#),
        ("echo-results", "[ok, err(green), ok]"),
        ("echo-variant", "circle(2.5)"),
        ("echo-variant", "square({x: 1, y: 2})"),
        ("echo-variant", "nothing"),
        ("echo-enum", "blue"),
        ("echo-flags", "{read, exec}"),
        ("echo-flags", "{}"),
        (
            "echo-bag",
            r#"{name: "b", tags: ["t1", "t2"], origin: {x: 0, y: 9}, color: green, perms: {write}, maybe: some(7)}"#,
        ),
    ];
    for (func, value) in echoes {
        let got = host.call(&format!("{func}({value})")).unwrap();
        assert_eq!(got, value, "{func}({value})");
    }
    assert_eq!(host.call("bytes-len([1, 2, 3])").unwrap(), "3");
    assert_eq!(host.call("divide(7, 2)").unwrap(), "ok(3)");
    assert_eq!(host.call("divide(1, 0)").unwrap(), r#"err("division by zero")"#);
    // result<_, E>: None is `ok`, `raise Err(e)` is `err(e)`.
    assert_eq!(host.call(r#"check-name("ada")"#).unwrap(), "ok");
    assert_eq!(host.call(r#"check-name("")"#).unwrap(), "err(red)");
}

#[test]
fn other_exceptions_in_a_result_export_trap_with_traceback() {
    // Only `Err(e)` maps to the error case; a ValueError in an export
    // returning result<_, string> traps, with the traceback on stderr.
    let tmp = tempfile::tempdir().unwrap();
    let wasm = tmp.path().join("checker.wasm");
    build(&repo().join("tests/fixtures/errors"), "checker.wit", "checker", "result_raises", &wasm);
    let run = |call: &str| compiler().args(["run", "--invoke", call, wasm.to_str().unwrap()]).output().unwrap();
    let ok = run(r#"check-name("ada")"#);
    assert_eq!(text(&ok.stdout), "ok\n", "{}", text(&ok.stderr));
    assert_eq!(text(&run(r#"check-name("")"#).stdout), "err(\"empty name\")\n");
    let output = run(r#"check-name("boom")"#);
    let stderr = text(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("Traceback"), "{stderr}");
    assert!(stderr.contains("ValueError: boom is not a name"), "{stderr}");
    assert!(stderr.contains("wasm trap"), "{stderr}");
}

#[test]
fn guest_calls_host_imports() {
    let (_tmp, wasm) = types_component();
    let mut host = TypesHost::new(&wasm).unwrap();
    // add(41, 1) = 42, +1000 for the Err("not found"), + len("value!") = 6.
    assert_eq!(host.call("run-host(41)").unwrap(), "1048");
    assert_eq!(*host.log.lock().unwrap(), vec!["run-host called with 41".to_string()]);
}

#[test]
fn exception_at_call_time_traps_with_traceback() {
    let tmp = tempfile::tempdir().unwrap();
    let wasm = tmp.path().join("raises.wasm");
    build(&repo().join("tests/fixtures/errors"), "hello.wit", "hello", "call_raises", &wasm);
    let output = compiler()
        .args(["run", "--invoke", r#"hello("x")"#, wasm.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = text(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("Traceback"), "{stderr}");
    assert!(stderr.contains("ValueError: boom at call time for x"), "{stderr}");
    assert!(stderr.contains("wasm trap"), "{stderr}");
}

#[test]
fn bindings_subcommand_writes_importable_python() {
    let tmp = tempfile::tempdir().unwrap();
    let fixture = repo().join("tests/fixtures/types");
    let output = componentize_py(
        &fixture,
        &["-d", "types.wit", "-w", "types", "bindings", tmp.path().to_str().unwrap()],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(tmp.path().join("wit_world/__init__.py").is_file());
    let status = Command::new("python3")
        .args(["-m", "compileall", "-q", "wit_world"])
        .current_dir(tmp.path())
        .status()
        .unwrap();
    assert!(status.success(), "generated bindings do not compile");
}

/// As upstream's, the bindings `bindings` writes import with any Python
/// (its `componentize_py_runtime.py` stands in for the runtime's builtin
/// module); calling an import raises `NotImplementedError`.
#[test]
fn bindings_import_on_the_host_and_raise_when_called() {
    let tmp = tempfile::tempdir().unwrap();
    let fixture = repo().join("tests/fixtures/types");
    let output = componentize_py(
        &fixture,
        &["-d", "types.wit", "-w", "types", "bindings", tmp.path().to_str().unwrap()],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let script = "\
from wit_world.imports import host
try:
    host.add(1, 2)
except NotImplementedError as e:
    print('NotImplementedError:', e)
";
    let output = Command::new("python3").args(["-c", script]).current_dir(tmp.path()).output().unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(stdout.starts_with("NotImplementedError: ") && stdout.contains("inside a component"), "{stdout}");
}

/// An app folder holding `bindings`' output, `componentize_py_runtime.py`
/// included, builds a component whose imports still go through the
/// runtime's builtin module (found before the path), not the stand-in.
#[test]
fn bindings_output_in_the_app_folder_does_not_shadow_the_runtime() {
    let tmp = tempfile::tempdir().unwrap();
    let app = tmp.path().join("app");
    std::fs::create_dir(&app).unwrap();
    for file in ["types.wit", "app.py"] {
        std::fs::copy(repo().join("tests/fixtures/types").join(file), app.join(file)).unwrap();
    }
    let output = componentize_py(&app, &["-d", "types.wit", "-w", "types", "bindings", "."]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(app.join("componentize_py_runtime.py").is_file());
    let wasm = tmp.path().join("types.wasm");
    build(&app, "types.wit", "types", "app", &wasm);
    let mut host = TypesHost::new(&wasm).unwrap();
    assert_eq!(host.call("run-host(41)").unwrap(), "1048");
}

#[test]
fn missing_wit_path() {
    let dir = repo().join("tests/fixtures/errors");
    let err = build_fails(&dir, "nope.wit", "hello", "app");
    assert!(err.contains("WIT path `nope.wit` does not exist"), "{err}");
}

#[test]
fn wit_syntax_error_names_file_and_line() {
    let dir = repo().join("tests/fixtures/errors");
    let err = build_fails(&dir, "bad.wit", "hello", "app");
    assert!(err.contains("bad.wit:5"), "{err}");
}

#[test]
fn unknown_world() {
    let dir = repo().join("tests/fixtures/errors");
    let err = build_fails(&dir, "hello.wit", "goodbye", "app");
    assert!(err.contains("unknown world `goodbye`"), "{err}");
    assert!(err.contains("test:errors/hello"), "{err}");
}

#[test]
fn app_module_not_found() {
    let dir = repo().join("tests/fixtures/errors");
    let err = build_fails(&dir, "hello.wit", "hello", "does_not_exist");
    assert!(err.contains("app module `does_not_exist` not found on the python path"), "{err}");
}

#[test]
fn python_syntax_error() {
    let dir = repo().join("tests/fixtures/errors");
    let err = build_fails(&dir, "hello.wit", "hello", "syntax_error");
    assert!(err.contains("SyntaxError"), "{err}");
    assert!(err.contains("syntax_error.py"), "{err}");
    assert!(err.contains("line 4"), "{err}");
}

#[test]
fn exception_at_import_shows_traceback() {
    let dir = repo().join("tests/fixtures/errors");
    let err = build_fails(&dir, "hello.wit", "hello", "raises");
    assert!(err.contains("Traceback"), "{err}");
    assert!(err.contains("RuntimeError: boom at import time"), "{err}");
}

#[test]
fn missing_class_is_named() {
    let dir = repo().join("tests/fixtures/errors");
    let err = build_fails(&dir, "hello.wit", "hello", "no_class");
    assert!(err.contains("has no class 'WitWorld'"), "{err}");
}

/// WIT that parses but uses features the runtime does not support yet: one
/// world per feature.
const UNSUPPORTED_WIT: &str = "\
package test:unsupported;

interface streams {
    read: func(n: u32) -> stream<error-context>;
}

interface maps {
    record table { entries: map<string, u32> }
    lookup: func(t: table, key: string) -> option<u32>;
}

world uses-stream { import streams; }
world uses-map { export maps; }
world uses-fixed-list { export first: func(x: list<u8, 4>) -> u8; }
world uses-error-context { import last-error: func() -> option<error-context>; }
world uses-char-stream { export chars: func() -> stream<char>; }
world supported { export ok: func() -> string; }
";

#[test]
fn unsupported_wit_features_fail_at_build_time() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("unsupported.wit"), UNSUPPORTED_WIT).unwrap();
    std::fs::write(
        dir.path().join("app.py"),
        "class WitWorld:\n    def ok(self) -> str:\n        return 'ok'\n",
    )
    .unwrap();
    let cases = [
        (
            // Streams and futures work; their payloads are checked.
            "uses-stream",
            "imported function `test:unsupported/streams#read`: its result uses \
             `error-context`, which is not supported yet by componentize-py (wit-dylib \
             0.263 generates no code for error contexts (`todo!`))"
                .to_string(),
        ),
        (
            "uses-map",
            "exported function `test:unsupported/maps#lookup`: parameter `t` uses \
             `map<string, u32>` (inside type `table`), which is not supported yet by \
             componentize-py (the runtime does not convert maps yet)"
                .to_string(),
        ),
        (
            "uses-fixed-list",
            "exported function `first`: parameter `x` uses `list<u8, 4>`, which is not \
             supported yet by componentize-py (wit-dylib 0.263 generates no code for \
             fixed-length lists)"
                .to_string(),
        ),
        (
            "uses-error-context",
            "imported function `last-error`: its result uses `error-context`, which is not \
             supported yet by componentize-py (wit-dylib 0.263 generates no code for error \
             contexts (`todo!`))"
                .to_string(),
        ),
        (
            "uses-char-stream",
            "exported function `chars`: its result uses `stream<char>`, which is not \
             supported yet by componentize-py (the component model does not allow \
             `stream<char>` yet; use `stream<u8>` with an encoding, or `stream<string>`)"
                .to_string(),
        ),
    ];
    for (world, message) in &cases {
        let err = build_fails(dir.path(), "unsupported.wit", world, "app");
        assert!(err.contains(message.as_str()), "{world}: expected {message:?} in:\n{err}");
        // The build stopped before starting Python.
        assert!(!err.contains("initialising Python"), "{world}:\n{err}");
    }

    // The bindings subcommand rejects them too, and writes nothing.
    let out = dir.path().join("bindings");
    let output = componentize_py(
        dir.path(),
        &["-d", "unsupported.wit", "-w", "uses-stream", "bindings", out.to_str().unwrap()],
    );
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains(cases[0].1.as_str()), "{}", text(&output.stderr));
    assert!(!out.exists());

    // The check is about the world: a supported world of the same package builds.
    let wasm = dir.path().join("supported.wasm");
    build(dir.path(), "unsupported.wit", "supported", "app", &wasm);
}

#[test]
fn flags_over_32_members_fail_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let members: Vec<String> = (0..33).map(|i| format!("b{i}")).collect();
    let wit = format!(
        "package test:flag-limit;\n\nworld w {{\n  flags many {{ {} }}\n  export f: func(x: many) -> many;\n}}\n",
        members.join(", ")
    );
    std::fs::write(dir.path().join("flags.wit"), wit).unwrap();
    std::fs::write(dir.path().join("app.py"), "class WitWorld: pass\n").unwrap();
    let err = build_fails(dir.path(), "flags.wit", "w", "app");
    assert!(err.contains("failed to parse WIT at `flags.wit`"), "{err}");
    assert!(err.contains("cannot have more than 32 flags"), "{err}");
    assert!(err.contains("--> flags.wit:4:"), "{err}");
}

/// A user's WIT may name an older WASI 0.2 version than the bundled one
/// (`include wasi:cli/imports@0.2.0`, as upstream's examples do): it gets
/// the newest compatible bundled version, in a single file and in a folder
/// with its own `deps/`. An incompatible version is still an error.
#[test]
fn older_wasi_versions_resolve_to_the_bundled_ones() {
    let dir = tempfile::tempdir().unwrap();
    let app = "from wit_world.imports import my_types_types\n\nclass WitWorld:\n    def hello(self) -> str:\n        return 'hi ' + my_types_types.now.__name__\n";
    std::fs::write(dir.path().join("app.py"), app).unwrap();
    let wit = "package my:app;\n\nworld app {\n  include wasi:cli/imports@0.2.0;\n  import my:types/types;\n  export hello: func() -> string;\n}\n";
    std::fs::create_dir_all(dir.path().join("wit/deps/types")).unwrap();
    std::fs::write(dir.path().join("wit/app.wit"), wit).unwrap();
    std::fs::write(
        dir.path().join("wit/deps/types/types.wit"),
        "package my:types;\n\ninterface types {\n  use wasi:clocks/wall-clock@0.2.1.{datetime};\n  greeting: func() -> string;\n  now: func() -> datetime;\n}\n",
    )
    .unwrap();
    let wasm = dir.path().join("app.wasm");
    build(dir.path(), "wit", "app", "app", &wasm);
    let component = std::fs::read(&wasm).unwrap();
    let imports = String::from_utf8_lossy(&component);
    assert!(imports.contains("wasi:cli/environment@0.2.12"), "the bundled version is imported");

    // A single file naming a version nothing bundled is compatible with
    // fails with wit-parser's message (0.2.x and 0.3.0 are bundled).
    std::fs::write(
        dir.path().join("bad.wit"),
        "package my:bad;\n\nworld app {\n  include wasi:cli/imports@0.4.0;\n}\n",
    )
    .unwrap();
    let err = build_fails(dir.path(), "bad.wit", "app", "app");
    assert!(err.contains("package 'wasi:cli@0.4.0' not found"), "{err}");
    assert!(err.contains("--> bad.wit:4:"), "{err}");
}

/// While the app is imported, `dataclasses` compiles each distinct
/// generated method source once (`_exec_once` in compiler/src/bundle.py):
/// two modules' classes with the same fields share their methods' code, and
/// the methods behave as `exec` of the text makes them (names, qualnames,
/// module, globals, repr, eq, order, frozen). After the import `dataclasses`
/// uses the built-in `exec` again: a dataclass made at call time has code of
/// its own.
#[test]
fn dataclasses_compile_each_generated_method_once_during_the_import() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("hello.wit"), "package t:dc;\n\nworld hello {\n  export hello: func(name: string) -> string;\n}\n").unwrap();
    let module = |name: &str| {
        format!(
            "import dataclasses\n\nLABEL = '{name}'\n\n@dataclasses.dataclass(order=True)\nclass Point:\n    x: int\n    y: int = 0\n\n    def label(self):\n        return LABEL\n\nclass Outer:\n    @dataclasses.dataclass(frozen=True)\n    class Inner:\n        x: int\n        y: int = 0\n"
        )
    };
    std::fs::write(dir.join("one.py"), module("one")).unwrap();
    std::fs::write(dir.join("two.py"), module("two")).unwrap();
    std::fs::write(
        dir.join("app.py"),
        r#"import dataclasses
import one
import two


def check():
    p, q = one.Point(1, 2), two.Point(1)
    facts = [
        repr(p), repr(q), repr(two.Outer.Inner(3)),
        one.Point.__init__.__code__ is two.Point.__init__.__code__,
        one.Point.__init__.__qualname__, two.Outer.Inner.__init__.__qualname__,
        one.Point.__init__.__name__, one.Point.__init__.__module__, two.Point.__eq__.__module__,
        one.Point.__init__.__globals__ is vars(one), two.Point.__lt__.__globals__ is vars(two),
        p == one.Point(1, 2), p == q, one.Point(1, 1) < one.Point(1, 2), q.label(),
    ]
    try:
        two.Outer.Inner(1).x = 2
    except dataclasses.FrozenInstanceError as error:
        facts.append(type(error).__name__)
    facts.append("exec" in vars(dataclasses))

    @dataclasses.dataclass(order=True)
    class Late:
        x: int
        y: int = 0

    facts += [repr(Late(5)), Late.__init__.__code__ is one.Point.__init__.__code__, Late.__init__.__qualname__]
    return " | ".join(map(str, facts))


class WitWorld:
    def hello(self, name):
        return check()
"#,
    )
    .unwrap();
    let wasm = dir.join("out.wasm");
    build(dir, "hello.wit", "hello", "app", &wasm);
    let output = compiler().args(["run", "--invoke", r#"hello("x")"#, wasm.to_str().unwrap()]).output().unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let expected = [
        "Point(x=1, y=2)", "Point(x=1, y=0)", "Outer.Inner(x=3, y=0)",
        "True",
        "Point.__init__", "Outer.Inner.__init__",
        "__init__", "one", "two",
        "True", "True",
        "True", "False", "True", "two",
        "FrozenInstanceError",
        "False",
        "check.<locals>.Late(x=5, y=0)", "False", "check.<locals>.Late.__init__",
    ];
    assert_eq!(text(&output.stdout), format!("{:?}\n", expected.join(" | ")));
}

/// As upstream's CPython 3.14 (lazy annotations), an annotation of the app
/// may name a class defined further down or never imported: the app's
/// sources are compiled with deferred annotations (PEP 563), so importing
/// it evaluates none, and `typing.get_type_hints` resolves them later. A
/// pyc that the machine's own Python left in the app's `__pycache__`
/// (compiled eagerly) is not used (the pre-initialisation's file times are
/// zeroed, so it never looks fresh).
#[test]
fn annotations_are_deferred_as_with_upstreams_python() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(repo().join("tests/fixtures/errors/hello.wit"), dir.path().join("hello.wit")).unwrap();
    let app = r#"
import dataclasses
import typing


class WitWorld:
    def hello(self, name: str) -> str:
        return greet(Greeting(name)).text


def greet(greeting: Greeting) -> Reply:
    return Reply(f"Hello, {greeting.name}! {describe()}")


@dataclasses.dataclass
class Greeting:
    name: str


@dataclasses.dataclass
class Reply:
    text: str
    never: typing.Optional[NeverImported] = None


def describe() -> str:
    hints = typing.get_type_hints(Greeting)
    return f"{greet.__annotations__['greeting']} {hints['name'].__name__}"
"#;
    std::fs::write(dir.path().join("app.py"), app).unwrap();
    let wasm = dir.path().join("hello.wasm");
    build(dir.path(), "hello.wit", "hello", "app", &wasm);
    let output = compiler()
        .args(["run", "--invoke", r#"hello("world")"#, wasm.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "\"Hello, world! Greeting str\"\n");

    // The machine's Python compiles the app (eagerly) into __pycache__.
    let status = Command::new("python3")
        .current_dir(dir.path())
        .args(["-c", "import py_compile; py_compile.compile('app.py', doraise=True)"])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(dir.path().join("__pycache__").is_dir());
    build(dir.path(), "hello.wit", "hello", "app", &wasm);
    let output = compiler()
        .args(["run", "--invoke", r#"hello("again")"#, wasm.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "\"Hello, again! Greeting str\"\n");
}
