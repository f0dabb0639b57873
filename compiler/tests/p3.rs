//! WASI 0.3 hosts, end to end through the real binary: `run` of a
//! component exporting `wasi:cli/run@0.3.0` (an async `run`), whose
//! `print` goes through WASI 0.2 (wasi-libc and the preview1 adapter), so
//! the host links 0.2 and 0.3 together.

use std::path::PathBuf;

mod common;
use common::{componentize_py, repo, text};

/// Build world `world` of `tests/fixtures/p3` with app module `app`.
fn build_fixture(world: &str, app: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let wasm = tmp.path().join(format!("{app}.wasm"));
    let output = componentize_py(
        &repo().join("tests/fixtures/p3"),
        &["-d", "p3.wit", "-w", world, "componentize", app, "-o", wasm.to_str().unwrap()],
    );
    assert!(output.status.success(), "build failed: {}", text(&output.stderr));
    (tmp, wasm)
}

#[test]
fn run_calls_the_async_run_of_wasi_cli_0_3() {
    let (_tmp, wasm) = build_fixture("run-only", "run_only");
    let wasm_arg = wasm.to_str().unwrap();

    let output = componentize_py(wasm.parent().unwrap(), &["run", wasm_arg, "a", "b"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "run@0.3.0: argv ['a', 'b']\n");

    // `run` returns `err`: exit code 1, and the output printed before it.
    let output = componentize_py(wasm.parent().unwrap(), &["run", wasm_arg, "fail"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "run@0.3.0: argv ['fail']\n");
    let stderr = text(&output.stderr);
    assert!(stderr.contains("the component's `wasi:cli/run` returned an error"), "{stderr}");
}

/// examples/cli-p3: the whole `wasi:cli/command@0.3.0` world, whose stdout
/// is a `stream<u8>` written by the guest and read by the host, and whose
/// `err` result is exit code 1.
#[test]
fn the_cli_p3_example_writes_stdout_through_a_stream() {
    let tmp = tempfile::tempdir().unwrap();
    let wasm = tmp.path().join("cli.wasm");
    let wasm_arg = wasm.to_str().unwrap();
    let example = repo().join("examples/cli-p3");
    let output = componentize_py(&example, &["-d", "cli.wit", "-w", "cli", "componentize", "app", "-o", wasm_arg]);
    assert!(output.status.success(), "build failed: {}", text(&output.stderr));

    let output = componentize_py(tmp.path(), &["run", wasm_arg, "Bazel", "WASI"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout),
        "Hello, Bazel! (wasi:cli/stdout@0.3.0)\nHello, WASI! (wasi:cli/stdout@0.3.0)\n"
    );

    let output = componentize_py(tmp.path(), &["run", wasm_arg, "fail"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "Hello, fail! (wasi:cli/stdout@0.3.0)\n");
}
