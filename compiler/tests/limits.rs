//! Limits of a build, through the real binary: the import time limit, and
//! what an app that exits the interpreter while it is imported is told.
//! Needs the toolchain from `scripts/setup.sh`.

use std::path::Path;
use std::time::{Duration, Instant};

mod common;
use common::{componentize_py, repo, text};

/// A folder with examples/hello's WIT, `app.py` importing `pkg.slow`, and
/// `pkg/slow.py` with `body`.
fn app_importing(body: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(repo().join("examples/hello/hello.wit"), dir.path().join("hello.wit")).unwrap();
    std::fs::write(
        dir.path().join("app.py"),
        "import pkg.slow\n\nclass WitWorld:\n    def hello(self, name):\n        return name\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("pkg")).unwrap();
    std::fs::write(dir.path().join("pkg/__init__.py"), "").unwrap();
    std::fs::write(dir.path().join("pkg/slow.py"), body).unwrap();
    dir
}

/// Build `dir`'s app with `extra` arguments; it must fail without leaving
/// an output. Returns stderr and how long the build took.
fn build_fails(dir: &Path, extra: &[&str]) -> (String, Duration) {
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("out.wasm");
    let mut args = vec!["-d", "hello.wit", "-w", "hello", "componentize", "app", "-p", "."];
    args.extend_from_slice(extra);
    args.extend(["-o", target.to_str().unwrap()]);
    let start = Instant::now();
    let output = componentize_py(dir, &args);
    let took = start.elapsed();
    assert!(!output.status.success(), "the build unexpectedly succeeded");
    let left: Vec<_> = std::fs::read_dir(out.path()).unwrap().collect();
    assert!(left.is_empty(), "a failed build left files: {left:?}");
    (text(&output.stderr), took)
}

/// An import that never ends is stopped at `--import-timeout`, and the
/// error names the limit and the modules being imported, innermost first.
#[test]
fn endless_import_stops_at_the_time_limit() {
    let dir = app_importing("print('spinning')\nwhile True:\n    pass\n");
    let (stderr, took) = build_fails(dir.path(), &["--import-timeout", "2s"]);
    assert!(stderr.contains("import time limit of 2 s (--import-timeout)"), "{stderr}");
    assert!(
        stderr.contains("while importing module `pkg.slow`, imported by `app`"),
        "{stderr}"
    );
    assert!(!stderr.contains("wasm backtrace"), "{stderr}");
    assert!(took >= Duration::from_secs(2), "stopped before the limit: {took:?}");
    assert!(took < Duration::from_secs(30), "not stopped near the limit: {took:?}");
}

/// `sys.exit(n)` and `os._exit(n)` while the app is imported are explained
/// in a sentence with the status, not a traceback or a wasm backtrace.
#[test]
fn exiting_during_import_is_explained() {
    let dir = app_importing("import sys\nsys.exit(3)\n");
    let (stderr, _) = build_fails(dir.path(), &[]);
    assert!(
        stderr.contains("the app called sys.exit(3) while app module 'app' was being imported"),
        "{stderr}"
    );
    assert!(!stderr.contains("wasm backtrace") && !stderr.contains("Traceback"), "{stderr}");

    let dir = app_importing("import os\nprint('leaving', flush=True)\nos._exit(4)\n");
    let (stderr, _) = build_fails(dir.path(), &[]);
    assert!(
        stderr.contains("the app exited the interpreter with status 4 (os._exit) while importing \
                         module `pkg.slow`, imported by `app`"),
        "{stderr}"
    );
    assert!(!stderr.contains("wasm backtrace"), "{stderr}");
}

/// `--import-timeout` takes a duration or `none`, and says so otherwise.
#[test]
fn import_timeout_values_are_checked() {
    let dir = repo().join("examples/hello");
    let output = componentize_py(
        &dir,
        &["-d", "hello.wit", "componentize", "app", "--import-timeout", "soon", "-o", "x.wasm"],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("--import-timeout"), "{}", text(&output.stderr));
    assert!(!dir.join("x.wasm").exists());
}
