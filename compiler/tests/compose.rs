//! `componentize-py compose`: real Python components (tests/fixtures/compose)
//! plugged into each other, the composed component run with `run`; the
//! errors for what cannot be composed.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

mod common;
use common::{compiler, componentize_py, repo, text};

/// The fixture's four components, built once for all tests.
struct Built {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let fixture = repo().join("tests/fixtures/compose");
        for (world, app) in [("app", "app"), ("mock", "mock"), ("half", "half"), ("wrong", "wrong")] {
            let out = dir.join(format!("{app}.wasm"));
            let output = componentize_py(
                &fixture,
                &["-d", "compose.wit", "-w", world, "componentize", app, "-p", ".", "-o", out.to_str().unwrap()],
            );
            assert!(output.status.success(), "building {app}: {}", text(&output.stderr));
        }
        Built { _tmp: tmp, dir }
    })
}

fn wasm(name: &str) -> String {
    built().dir.join(format!("{name}.wasm")).to_str().unwrap().to_string()
}

/// `compose SOCKET --plug ... -o OUT` plus `extra`; Ok(OUT) or Err(stderr).
fn compose(socket: &str, plugs: &[&str], out: &str, extra: &[&str]) -> Result<PathBuf, String> {
    let out = built().dir.join(out);
    let mut args = vec!["compose".to_string(), wasm(socket)];
    for plug in plugs {
        args.extend(["--plug".to_string(), wasm(plug)]);
    }
    args.extend(["-o".to_string(), out.to_str().unwrap().to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let output = compiler().args(&args).output().unwrap();
    if output.status.success() {
        assert!(out.is_file());
        Ok(out)
    } else {
        assert!(!out.exists(), "a failed compose wrote {}", out.display());
        Err(text(&output.stderr))
    }
}

fn run(component: &Path, invokes: &[&str]) -> std::process::Output {
    let mut command = compiler();
    command.arg("run");
    for invoke in invokes {
        command.args(["--invoke", invoke]);
    }
    command.arg(component).output().unwrap()
}

#[test]
fn a_python_mock_satisfies_an_interface_and_a_function_import() {
    let composed = compose("app", &["mock"], "composed.wasm", &[]).unwrap();
    let output = run(&composed, &[r#"greet("Ada")"#, r#"greet("Grace")"#]);
    assert!(output.status.success(), "run failed: {}", text(&output.stderr));
    // `shout` came from the mock, the line numbers from its state, kept
    // between calls.
    assert_eq!(
        text(&output.stdout),
        "\"HELLO, Ada (line 1)\"\n\"HELLO, Grace (line 2)\"\n"
    );

    // Deterministic: the same inputs, the same bytes.
    let again = compose("app", &["mock"], "composed-again.wasm", &[]).unwrap();
    assert!(std::fs::read(&composed).unwrap() == std::fs::read(&again).unwrap(), "two compositions differ");

    // Without the plug the import is unsatisfied: `run` says so.
    let alone = run(Path::new(&wasm("app")), &[r#"greet("Ada")"#]);
    assert!(!alone.status.success());
    assert!(text(&alone.stderr).contains("test:compose/logger"), "{}", text(&alone.stderr));
}

#[test]
fn an_unsatisfied_import_is_named_with_its_component() {
    let error = compose("app", &["half"], "app-half.wasm", &[]).unwrap_err();
    assert!(
        error.contains(&format!("no plug satisfies the import `test:compose/logger` of `{}`", wasm("app"))),
        "{error}"
    );
    assert!(error.contains("plugs export: `shout`"), "{error}");

    // Allowed: it stays an import of the composed component, `shout` is
    // plugged (read from the component's import section: running it would
    // cost a Cranelift compile of two CPythons for the linker's error).
    let composed = compose("app", &["half"], "half-allowed.wasm", &["--allow-imports"]).unwrap();
    let imports = top_level_imports(&std::fs::read(&composed).unwrap());
    assert!(imports.iter().any(|i| i == "test:compose/logger"), "{imports:?}");
    assert!(!imports.iter().any(|i| i == "shout"), "{imports:?}");
}

/// The names a component imports (its outermost import sections).
fn top_level_imports(bytes: &[u8]) -> Vec<String> {
    let mut names = Vec::new();
    let mut depth = 0;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        match payload.unwrap() {
            wasmparser::Payload::ComponentSection { .. } | wasmparser::Payload::ModuleSection { .. } => depth += 1,
            wasmparser::Payload::End(_) => depth -= 1,
            wasmparser::Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    names.push(import.unwrap().name.name.to_string());
                }
            }
            _ => {}
        }
    }
    names
}

#[test]
fn plugs_that_satisfy_nothing_or_the_same_import_are_errors() {
    // `half` exports `shout`, which `mock` (as the socket) does not import.
    let error = compose("mock", &["half"], "nothing.wasm", &[]).unwrap_err();
    assert!(error.contains(&format!("`{}` satisfies no import: it exports `shout`", wasm("half"))), "{error}");

    let error = compose("app", &["mock", "half"], "twice.wasm", &[]).unwrap_err();
    assert!(
        error.contains(&format!(
            "the import `shout` of `{}` is exported by several plugs: `{}`, `{}`",
            wasm("app"),
            wasm("mock"),
            wasm("half")
        )),
        "{error}"
    );
}

#[test]
fn a_plug_export_of_another_type_is_an_error_naming_both() {
    let error = compose("app", &["wrong"], "app-wrong.wasm", &[]).unwrap_err();
    assert!(
        error.contains(&format!(
            "plugging the export `shout` of `{}` into the import `shout` of `{}`",
            wasm("wrong"),
            wasm("app")
        )),
        "{error}"
    );
    assert!(error.contains("is not compatible with"), "{error}");
}

#[test]
fn inputs_that_are_not_components_are_errors() {
    let dir = built().dir.clone();
    let not = dir.join("not.wasm");
    std::fs::write(&not, b"not wasm").unwrap();
    let output = compiler()
        .args(["compose", &wasm("app"), "--plug", not.to_str().unwrap(), "-o"])
        .arg(dir.join("x.wasm"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let error = text(&output.stderr);
    assert!(error.contains(&format!("`{}` is not a WebAssembly component", not.display())), "{error}");
    assert!(!dir.join("x.wasm").exists());

    let output = compiler().args(["compose", &wasm("app"), "-o", "x.wasm"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "no --plug is a usage error");
}
