//! The toolchain embedded in the binary: a copy of the bare binary, away
//! from any `.toolchain/`, builds and runs a component, byte-identical to
//! the one built with the checkout's external toolchain; `--toolchain` and
//! `$COMPONENTIZE_PY_TOOLCHAIN` still win over it. Needs `scripts/setup.sh`
//! before the build (the binary embeds `.toolchain/runtime`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{repo, text};

/// A folder with the hello example's files.
fn hello_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for file in ["hello.wit", "app.py"] {
        std::fs::copy(repo().join("examples/hello").join(file), dir.path().join(file)).unwrap();
    }
    dir
}

/// `exe` in `dir` with `args`, a private cache folder and temporary folder,
/// and none of the caller's toolchain settings.
fn run(exe: &Path, dir: &Path, home: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(exe);
    command
        .current_dir(dir)
        .args(args)
        .env_remove("COMPONENTIZE_PY_TOOLCHAIN")
        .env_remove("COMPONENTIZE_PY_CACHE_DIR")
        .env_remove("XDG_CACHE_HOME")
        .env("HOME", home)
        .env("TMPDIR", home.join("tmp"));
    // A copy just written (`bare_copy`) cannot be executed while a child
    // forked by another test thread still holds the copy's write handle
    // (ETXTBSY); that child lets go of it when it executes its program.
    let mut tries = 0;
    let output = loop {
        match command.output() {
            Err(error) if error.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 50 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            result => break result.unwrap(),
        }
    };
    eprintln!("{} {}\n{}{}", exe.display(), args.join(" "), text(&output.stdout), text(&output.stderr));
    output
}

/// Build the hello example in `dir` into `out.wasm` with `extra` options
/// before the subcommand; returns the component.
fn build(exe: &Path, dir: &Path, home: &Path, extra: &[&str]) -> Vec<u8> {
    let mut args: Vec<&str> = extra.to_vec();
    args.extend(["-d", "hello.wit", "-w", "hello", "componentize", "app", "-o", "out.wasm"]);
    let output = run(exe, dir, home, &args);
    assert!(output.status.success(), "build failed: {}", text(&output.stderr));
    std::fs::read(dir.join("out.wasm")).unwrap()
}

/// A home folder (with an empty `tmp/`) for one run.
fn home() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join("tmp")).unwrap();
    home
}

/// A copy of the binary alone in a fresh folder.
fn bare_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("componentize-py");
    std::fs::copy(env!("CARGO_BIN_EXE_componentize-py"), &exe).unwrap();
    (dir, exe)
}

#[test]
fn the_binary_carries_a_toolchain() {
    assert!(
        componentize_py::embedded::is_embedded(),
        "built without .toolchain/runtime: run scripts/setup.sh, then rebuild"
    );
}

#[test]
fn a_bare_copy_builds_and_runs_hello_identically_to_the_external_toolchain() {
    let (_bin, exe) = bare_copy();
    let external = repo().join(".toolchain");
    let external = external.to_str().unwrap();

    let (dir, home_dir) = (hello_dir(), home());
    let embedded = build(&exe, dir.path(), home_dir.path(), &[]);
    // Unpacked once into the cache folder, complete, nothing left in TMPDIR.
    let cache = home_dir.path().join(".cache/componentize-py");
    let unpacked: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("toolchain-"))
        .collect();
    assert_eq!(unpacked.len(), 1, "{unpacked:?}");
    assert!(cache.join(&unpacked[0]).join(".complete").is_file());
    assert!(cache.join(&unpacked[0]).join("runtime/interpreter.wasm").is_file());
    // A second build reuses the unpacked folder and gives the same bytes.
    assert_eq!(build(&exe, dir.path(), home_dir.path(), &[]), embedded);

    let output = run(&exe, dir.path(), home_dir.path(), &["run", "--invoke", r#"hello("world")"#, "out.wasm"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "\"Hello, world!\"\n");

    let (dir, home_dir) = (hello_dir(), home());
    let from_external = build(&exe, dir.path(), home_dir.path(), &["--toolchain", external]);
    assert!(embedded == from_external, "embedded and external toolchains gave different components");

    // No cache folder: unpacked into a temporary folder, removed afterwards.
    let (dir, home_dir) = (hello_dir(), home());
    let output = Command::new(&exe)
        .current_dir(dir.path())
        .args(["-d", "hello.wit", "-w", "hello", "componentize", "app", "-o", "out.wasm"])
        .env_remove("COMPONENTIZE_PY_TOOLCHAIN")
        .env("COMPONENTIZE_PY_NO_CACHE", "1")
        .env("TMPDIR", home_dir.path().join("tmp"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(std::fs::read(dir.path().join("out.wasm")).unwrap() == embedded);
    let left: Vec<_> = std::fs::read_dir(home_dir.path().join("tmp")).unwrap().collect();
    assert!(left.is_empty(), "the temporary toolchain was left behind: {left:?}");
}

#[test]
fn toolchain_option_and_variable_override_the_embedded_one() {
    let (_bin, exe) = bare_copy();
    let (dir, home_dir) = (hello_dir(), home());
    let output = run(
        &exe,
        dir.path(),
        home_dir.path(),
        &["--toolchain", "missing", "-d", "hello.wit", "componentize", "app", "-o", "out.wasm"],
    );
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("has no interpreter module"), "{}", text(&output.stderr));
    let output = Command::new(&exe)
        .current_dir(dir.path())
        .args(["-d", "hello.wit", "componentize", "app", "-o", "out.wasm"])
        .env("COMPONENTIZE_PY_TOOLCHAIN", dir.path().join("missing"))
        .env("HOME", home_dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("COMPONENTIZE_PY_TOOLCHAIN") && stderr.contains("has no interpreter module"), "{stderr}");
    assert!(!dir.path().join("out.wasm").exists());
}
