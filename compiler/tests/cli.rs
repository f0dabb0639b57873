//! Upstream componentize-py 0.25.1's command line: `componentize` without
//! `-o` writes `index.wasm`, prints `Component built successfully` (our step
//! lines only with `-v`, nothing with `-q`), adds `$VIRTUAL_ENV`'s
//! `site-packages` to the python path; `--world-module` names the world's
//! class; `-m/--module-worlds` and `-i/--intersect-world`; and several
//! dependencies whose `componentize-py.toml` sets `bindings`
//! (`tests/fixtures/sdks`: two SDKs, one with two worlds, written to
//! upstream's API: `componentize_py_types`, `Shape_Circle`, ...).

use std::path::Path;

mod common;
use common::{compiler, componentize_py, repo, text};

/// `run --invoke` each call; the results, one line each.
fn invoke(wasm: &Path, calls: &[&str]) -> String {
    let mut command = compiler();
    command.arg("run");
    for call in calls {
        command.args(["--invoke", call]);
    }
    let output = command.arg(wasm).output().unwrap();
    assert!(output.status.success(), "run failed: {}", text(&output.stderr));
    text(&output.stdout)
}

const HELLO_WIT: &str = "package test:cli-hello;\nworld hello { export hello: func(name: string) -> string; }\n";

/// The app of the hello world written for `--world-module tests`, using a
/// module from a venv's site-packages.
const TESTS_APP: &str = "\
import tests
import venv_helper


class Tests(tests.Tests):
    def hello(self, name: str) -> str:
        return venv_helper.greet(name)
";

#[test]
fn default_output_console_lines_world_class_and_venv() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("app");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("hello.wit"), HELLO_WIT).unwrap();
    std::fs::write(dir.join("app.py"), TESTS_APP).unwrap();
    let venv = tmp.path().join("venv");
    let site = venv.join("lib/python3.11/site-packages");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("venv_helper.py"), "def greet(name):\n    return f'Hello from the venv, {name}!'\n").unwrap();
    let args = ["-d", "hello.wit", "--world-module", "tests", "componentize", "app"];

    // Upstream's defaults: index.wasm, one line on stdout, nothing on stderr.
    let output = compiler().current_dir(&dir).env("VIRTUAL_ENV", &venv).args(args).output().unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "Component built successfully\n");
    assert_eq!(text(&output.stderr), "");
    let index = dir.join("index.wasm");
    assert_eq!(invoke(&index, &[r#"hello("world")"#]), "\"Hello from the venv, world!\"\n");

    // -v: our step lines and times (stderr), and the same component.
    let other = tmp.path().join("other.wasm");
    let output = compiler()
        .current_dir(&dir)
        .env("VIRTUAL_ENV", &venv)
        .args(["-v"])
        .args(args)
        .args(["-o", other.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("componentize-py: resolving WIT\n"), "{stderr}");
    assert!(stderr.contains("componentize-py: wrote "), "{stderr}");
    assert_eq!(text(&output.stdout), "Component built successfully\n");
    assert!(std::fs::read(&other).unwrap() == std::fs::read(&index).unwrap(), "-v changed the output");

    // Without the venv the helper is not found; -q prints the error only.
    let output = compiler().current_dir(&dir).args(["-q"]).args(args).args(["-o", "q.wasm"]).output().unwrap();
    assert!(!output.status.success());
    assert_eq!(text(&output.stdout), "");
    assert!(text(&output.stderr).contains("No module named 'venv_helper'"), "{}", text(&output.stderr));
    assert!(!dir.join("q.wasm").exists());

    // The world's class follows --world-module: `WitWorld` is not it.
    std::fs::write(dir.join("app.py"), TESTS_APP.replace("class Tests(tests.Tests)", "class WitWorld")).unwrap();
    let output = compiler().current_dir(&dir).env("VIRTUAL_ENV", &venv).args(args).args(["-o", "w.wasm"]).output().unwrap();
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("has no class 'Tests'"), "{}", text(&output.stderr));
}

/// Build the two-SDK app of `tests/fixtures/sdks` with `-q` and `extra`
/// arguments of `componentize`.
fn build_sdks(extra: &[&str], out: &Path) {
    let fixture = repo().join("tests/fixtures/sdks");
    let mut args = vec!["-q", "-d", "wit", "-w", "app", "componentize", "app", "-p", ".", "-p", "deps"];
    args.extend(extra);
    args.extend(["-o", out.to_str().unwrap()]);
    let output = componentize_py(&fixture, &args);
    assert!(output.status.success(), "build failed: {}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "", "-q printed something");
    assert_eq!(text(&output.stderr), "", "-q printed something");
}

const CALLS: [&str; 5] = [
    "check()",
    r#"greet("ann")"#,
    "area(square(3.0))",
    // `none` alone is WAVE's option keyword; a variant case of that name is `%none`.
    "area(%none)",
    "describe(circle(1.0))",
];

#[test]
fn two_sdks_with_bindings_module_worlds_and_intersect_world() {
    let tmp = tempfile::tempdir().unwrap();
    // Whether the world imports the clock shows in the greeting ("clock ok"
    // / "no clock"), not in the component's imports: the WASI adapter
    // imports wasi:clocks/monotonic-clock in every component.

    // -m alpha_sdk=timed: alpha's world with the clock.
    let timed = tmp.path().join("timed.wasm");
    build_sdks(&["-m", "alpha_sdk=timed"], &timed);
    assert_eq!(
        invoke(&timed, &CALLS),
        "\"same=True shared=True ok=True err=True\"\n\"Hi, ann (clock ok)\"\nok(9)\nerr(\"no shape, no area\")\n\"Shape_Circle\"\n"
    );

    // -m alpha_sdk=plain: the other world of the same folder, no clock.
    let plain = tmp.path().join("plain.wasm");
    build_sdks(&["-m", "alpha_sdk=plain"], &plain);
    assert_eq!(invoke(&plain, &[CALLS[1]]), "\"Hi, ann (no clock)\"\n");

    // -i host: the timed world intersected with a host that has no clock.
    let intersected = tmp.path().join("intersected.wasm");
    build_sdks(&["-m", "alpha_sdk=timed", "-i", "host"], &intersected);
    assert_eq!(invoke(&intersected, &CALLS[..2]), "\"same=True shared=True ok=True err=True\"\n\"Hi, ann (no clock)\"\n");

    // -m naming a package without a componentize-py.toml.
    let output = componentize_py(
        &repo().join("tests/fixtures/sdks"),
        &["-d", "wit", "-w", "app", "componentize", "app", "-p", ".", "-p", "deps", "-m", "nope=x", "-o", "never.wasm"],
    );
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("no componentize-py.toml file found for module `nope`"), "{}", text(&output.stderr));
}
