//! What set-up makes ahead of time with the compiler, and builds use:
//!
//! - the stdlib's byte code (`componentize-py compile-stdlib`): a pyc beside
//!   every stdlib source, the same bytes whatever the number of threads,
//!   loaded by builds instead of the sources;
//! - the interpreters compiled ahead of time with Cranelift
//!   (`componentize-py precompile-interpreter`, into
//!   `runtime/precompiled/`): a build with an empty compile cache loads
//!   them instead of compiling the interpreter and gives the same bytes as
//!   a build that compiles it; a damaged file is passed over.
//!
//! Needs `scripts/setup.sh` (the `.toolchain/` it makes).

use std::path::{Path, PathBuf};

mod common;
use common::{compiler, componentize_py, copy_dir, repo, text};

/// CPython 3.11's pyc magic number.
const MAGIC: [u8; 4] = [0xa7, 0x0d, 0x0d, 0x0a];

fn stdlib(toolchain: &Path) -> PathBuf {
    toolchain.join("runtime/python/lib/python3.11")
}

/// The stdlib's sources below `dir`, as paths relative to it, sorted.
fn sources(dir: &Path, prefix: &str, found: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        if entry.file_type().unwrap().is_dir() {
            if name != "__pycache__" {
                sources(&entry.path(), &format!("{prefix}{name}/"), found);
            }
        } else if name.ends_with(".py") {
            found.push(format!("{prefix}{name}"));
        }
    }
    found.sort();
}

/// The pyc path of the source `rel` below the stdlib.
fn pyc_of(rel: &str) -> String {
    let (folder, name) = rel.rsplit_once('/').map_or(("", rel), |(f, n)| (f, n));
    let stem = name.strip_suffix(".py").unwrap();
    if folder.is_empty() {
        format!("__pycache__/{stem}.cpython-311.pyc")
    } else {
        format!("{folder}/__pycache__/{stem}.cpython-311.pyc")
    }
}

/// A copy of the checkout's toolchain (the interpreter modules, the stdlib
/// with its pycs, the precompiled interpreters) in a fresh folder.
fn toolchain_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let (from, to) = (repo().join(".toolchain/runtime"), dir.path().join("runtime"));
    std::fs::create_dir_all(&to).unwrap();
    for file in ["interpreter.wasm", "interpreter-async.wasm"] {
        std::fs::copy(from.join(file), to.join(file)).unwrap();
    }
    copy_dir(&from.join("python"), &to.join("python"));
    copy_dir(&from.join("precompiled"), &to.join("precompiled"));
    dir
}

#[test]
fn setup_compiled_every_stdlib_source_to_a_checked_pyc() {
    let stdlib = stdlib(&repo().join(".toolchain"));
    let mut found = Vec::new();
    sources(&stdlib, "", &mut found);
    assert!(found.len() > 500, "only {} stdlib sources", found.len());
    for rel in &found {
        let pyc = std::fs::read(stdlib.join(pyc_of(rel)))
            .unwrap_or_else(|e| panic!("no pyc of {rel} (run scripts/setup.sh): {e}"));
        assert_eq!(pyc[..4], MAGIC, "{rel}: not a CPython 3.11 pyc");
        // Hash-based and checked: a pyc whose source changed is not used.
        assert_eq!(pyc[4..8], [3, 0, 0, 0], "{rel}: not a checked hash-based pyc");
    }
}

#[test]
fn compile_stdlib_gives_the_same_bytes_on_one_thread() {
    // setup.sh ran it with one thread per core; here with one thread.
    let copy = toolchain_copy();
    let output = compiler()
        .arg("compile-stdlib")
        .arg(copy.path())
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .unwrap();
    eprintln!("{}", text(&output.stderr));
    assert!(output.status.success(), "compile-stdlib failed: {}", text(&output.stderr));
    let (ours, setups) = (stdlib(copy.path()), stdlib(&repo().join(".toolchain")));
    let mut found = Vec::new();
    sources(&ours, "", &mut found);
    assert!(
        text(&output.stderr).contains(&format!("compiled {} stdlib sources", found.len())),
        "no summary line naming {} sources",
        found.len()
    );
    let different: Vec<&String> = found
        .iter()
        .filter(|rel| std::fs::read(ours.join(pyc_of(rel))).unwrap() != std::fs::read(setups.join(pyc_of(rel))).unwrap())
        .collect();
    assert!(different.is_empty(), "pycs that differ with one thread: {different:?}");
}

#[test]
fn both_steps_fail_clearly_without_a_toolchain() {
    let empty = tempfile::tempdir().unwrap();
    for (step, context) in [
        ("compile-stdlib", "compiling the stdlib of the toolchain at"),
        ("precompile-interpreter", "precompiling the interpreters of the toolchain at"),
    ] {
        let output = compiler().arg(step).arg(empty.path()).output().unwrap();
        assert!(!output.status.success(), "{step} succeeded");
        let stderr = text(&output.stderr);
        assert!(stderr.contains(context), "{step}: {stderr}");
        assert!(stderr.contains("runtime/interpreter.wasm"), "{step}: {stderr}");
    }
}

#[test]
fn a_build_loads_the_stdlib_from_its_pycs() {
    // In a copy of the toolchain, `colorsys`'s pyc is replaced by the code of
    // `keyword`, marked unchecked (used without looking at the source): a
    // build that loads the pycs sees `keyword.kwlist` in `colorsys`.
    let copy = toolchain_copy();
    let stdlib = stdlib(copy.path());
    let mut pyc = std::fs::read(stdlib.join(pyc_of("keyword.py"))).unwrap();
    pyc[4..8].copy_from_slice(&[1, 0, 0, 0]);
    std::fs::write(stdlib.join(pyc_of("colorsys.py")), pyc).unwrap();

    let app = tempfile::tempdir().unwrap();
    std::fs::copy(repo().join("examples/hello/hello.wit"), app.path().join("hello.wit")).unwrap();
    std::fs::write(
        app.path().join("app.py"),
        "import colorsys\nimport wit_world\n\n\nclass WitWorld(wit_world.WitWorld):\n    \
         def hello(self, name: str) -> str:\n        \
         return name + (' keyword' if hasattr(colorsys, 'kwlist') else ' colorsys')\n",
    )
    .unwrap();
    // The checkout's toolchain, untouched, is the control.
    let toolchains = [(copy.path().to_path_buf(), "keyword"), (repo().join(".toolchain"), "colorsys")];
    for (toolchain, want) in toolchains {
        let output = componentize_py(
            app.path(),
            &[
                "--toolchain",
                toolchain.to_str().unwrap(),
                "-d",
                "hello.wit",
                "-w",
                "hello",
                "componentize",
                "app",
                "-o",
                "out.wasm",
            ],
        );
        assert!(output.status.success(), "build failed: {}", text(&output.stderr));
        let run = compiler()
            .args(["run", "--invoke", "hello(\"colorsys is\")"])
            .arg(app.path().join("out.wasm"))
            .output()
            .unwrap();
        assert!(run.status.success(), "run failed: {}", text(&run.stderr));
        assert!(
            text(&run.stdout).contains(&format!("colorsys is {want}")),
            "with the toolchain at {}: {}",
            toolchain.display(),
            text(&run.stdout)
        );
    }
}

// ------------------------------------------------ precompiled interpreters

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
    assert_eq!(shipped.len(), 2, "want the two interpreters precompiled (run scripts/setup.sh): {shipped:?}");

    let cache = tempfile::tempdir().unwrap();
    let (loaded, steps) = build(&toolchain, Some(cache.path()));
    assert!(steps.contains("interpreter (precompiled, cranelift)"), "{steps}");
    // Loaded from the toolchain, not copied into the cache.
    assert!(cwasm_files(cache.path()).is_empty(), "{:?}", cwasm_files(cache.path()));

    let (compiled, steps) = build(&toolchain, None);
    assert!(steps.contains("interpreter (compiled, winch)"), "{steps}");
    assert!(loaded == compiled, "the precompiled interpreter changed the component");
}

#[test]
fn a_damaged_precompiled_interpreter_is_compiled_again() {
    let copy = toolchain_copy();
    let shipped = cwasm_files(&copy.path().join("runtime/precompiled"));
    assert_eq!(shipped.len(), 2, "{shipped:?}");
    for file in &shipped {
        let bytes = std::fs::read(file).unwrap();
        std::fs::write(file, &bytes[..bytes.len() / 2]).unwrap();
    }

    let cache = tempfile::tempdir().unwrap();
    let (component, steps) = build(copy.path(), Some(cache.path()));
    assert!(steps.contains("interpreter (compiled, winch)"), "{steps}");
    let (reference, _) = build(&repo().join(".toolchain"), None);
    assert!(component == reference, "a damaged precompiled interpreter changed the component");
}
