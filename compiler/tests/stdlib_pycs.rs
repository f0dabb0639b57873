//! The stdlib's byte code (`componentize-py compile-stdlib`, run by
//! `scripts/setup.sh`): a pyc beside every stdlib source, the same bytes
//! whatever the number of threads, and loaded by builds instead of the
//! sources. Needs `scripts/setup.sh` (the `.toolchain/` it makes).

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

/// A copy of the checkout's toolchain (the interpreter modules and the
/// stdlib with its pycs) in a fresh folder.
fn toolchain_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let (from, to) = (repo().join(".toolchain/runtime"), dir.path().join("runtime"));
    std::fs::create_dir_all(&to).unwrap();
    for file in ["interpreter.wasm", "interpreter-async.wasm"] {
        std::fs::copy(from.join(file), to.join(file)).unwrap();
    }
    copy_dir(&from.join("python"), &to.join("python"));
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
fn compile_stdlib_fails_clearly_without_a_toolchain() {
    let empty = tempfile::tempdir().unwrap();
    let output = compiler().arg("compile-stdlib").arg(empty.path()).output().unwrap();
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("compiling the stdlib of the toolchain at"), "{stderr}");
    assert!(stderr.contains("runtime/interpreter.wasm"), "{stderr}");
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
