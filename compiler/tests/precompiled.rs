//! The interpreter compiled ahead of time (`componentize-py
//! precompile-interpreter`, which `scripts/setup.sh` runs into
//! `.toolchain/runtime/precompiled/`): a build with an empty compile cache
//! loads it instead of compiling the interpreter, and gives the same bytes
//! as a build that compiles it; a damaged file is passed over. Needs
//! `scripts/setup.sh`.

use std::path::Path;

mod common;
use common::{compiler, copy_dir, repo, text};

/// Build the hello example with the toolchain at `toolchain` and the
/// compile cache folder `cache` (`None`: the cache off); the component and
/// the `-v` step lines.
fn build(toolchain: &Path, cache: Option<&Path>) -> (Vec<u8>, String) {
    let app = tempfile::tempdir().unwrap();
    for file in ["hello.wit", "app.py"] {
        std::fs::copy(repo().join("examples/hello").join(file), app.path().join(file)).unwrap();
    }
    let mut command = compiler();
    command
        .current_dir(app.path())
        .args(["-v", "--toolchain"])
        .arg(toolchain)
        .args(["-d", "hello.wit", "-w", "hello", "componentize", "app", "-o", "out.wasm"])
        .env_remove("COMPONENTIZE_PY_PREINIT_COMPILER");
    match cache {
        Some(cache) => command.env("COMPONENTIZE_PY_CACHE_DIR", cache).env_remove("COMPONENTIZE_PY_NO_CACHE"),
        None => command.env("COMPONENTIZE_PY_NO_CACHE", "1"),
    };
    let output = command.output().unwrap();
    let stderr = text(&output.stderr);
    eprintln!("{stderr}");
    assert!(output.status.success(), "build failed: {stderr}");
    (std::fs::read(app.path().join("out.wasm")).unwrap(), stderr)
}

/// The `.cwasm` files in `dir`.
fn cwasm_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "cwasm"))
        .collect()
}

#[test]
fn an_empty_cache_loads_the_precompiled_interpreter_and_gives_the_same_bytes() {
    let toolchain = repo().join(".toolchain");
    let shipped = cwasm_files(&toolchain.join("runtime/precompiled"));
    assert_eq!(shipped.len(), 1, "want one precompiled interpreter (run scripts/setup.sh): {shipped:?}");

    let cache = tempfile::tempdir().unwrap();
    let (loaded, steps) = build(&toolchain, Some(cache.path()));
    assert!(steps.contains("interpreter (precompiled, winch)"), "{steps}");
    // Loaded from the toolchain, not copied into the cache.
    assert!(cwasm_files(cache.path()).is_empty(), "{:?}", cwasm_files(cache.path()));

    let (compiled, steps) = build(&toolchain, None);
    assert!(steps.contains("interpreter (compiled, winch)"), "{steps}");
    assert!(loaded == compiled, "the precompiled interpreter changed the component");
}

#[test]
fn a_damaged_precompiled_interpreter_is_compiled_again() {
    let copy = tempfile::tempdir().unwrap();
    let (from, to) = (repo().join(".toolchain/runtime"), copy.path().join("runtime"));
    std::fs::create_dir_all(&to).unwrap();
    for file in ["interpreter.wasm", "interpreter-async.wasm"] {
        std::fs::copy(from.join(file), to.join(file)).unwrap();
    }
    copy_dir(&from.join("python"), &to.join("python"));
    copy_dir(&from.join("precompiled"), &to.join("precompiled"));
    let shipped = cwasm_files(&to.join("precompiled"));
    assert_eq!(shipped.len(), 1, "{shipped:?}");
    let bytes = std::fs::read(&shipped[0]).unwrap();
    std::fs::write(&shipped[0], &bytes[..bytes.len() / 2]).unwrap();

    let cache = tempfile::tempdir().unwrap();
    let (component, steps) = build(copy.path(), Some(cache.path()));
    assert!(steps.contains("interpreter (compiled, winch)"), "{steps}");
    let (reference, _) = build(&repo().join(".toolchain"), None);
    assert!(component == reference, "a damaged precompiled interpreter changed the component");
}

#[test]
fn precompile_interpreter_fails_clearly_without_a_toolchain() {
    let empty = tempfile::tempdir().unwrap();
    let output = compiler().arg("precompile-interpreter").arg(empty.path()).output().unwrap();
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("precompiling the interpreter of the toolchain at"), "{stderr}");
    assert!(stderr.contains("runtime/interpreter.wasm"), "{stderr}");
}
