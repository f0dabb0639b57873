//! The stdlib's byte code, made once per toolchain by the toolchain's own
//! interpreter (`componentize-py compile-stdlib DIR`, which
//! `scripts/setup.sh` and the Bazel rule `py_wasm_interpreter` run).
//!
//! Without it, every build compiles the stdlib modules that the app imports
//! (for hello: `dataclasses`, `inspect`, `ast`, `typing`, … about 60) from
//! source, inside the instance that is snapshotted. With it, each `.py` file
//! of `runtime/python/lib/python3.11` has a hash-based pyc in the
//! `__pycache__` folder beside it, which pre-initialisation mounts where the
//! import looks (`crate::preinit::stdlib_byte_code`).
//!
//! The pycs are made by `bytecode.py` in pre-pass instances of the
//! toolchain's `interpreter.wasm`, exactly as the app's byte-code pre-pass
//! makes the app's: a pyc depends only on its source, its guest path and
//! that interpreter's CPython, not on the machine or the number of threads,
//! so set-up and Bazel write the same bytes, and a component built with
//! them is the same wherever it is built.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::preinit::STDLIB_SUBDIR;

/// CPython 3.11's `sys.implementation.cache_tag`.
const CACHE_TAG: &str = "cpython-311";

/// What [`compile_stdlib`] wrote.
#[derive(Debug)]
pub struct Summary {
    /// Sources compiled (one pyc each).
    pub files: usize,
    /// Bytes of pycs written.
    pub bytes: u64,
    /// Seconds taken.
    pub seconds: f64,
}

/// Compile every `.py` file of the stdlib of the toolchain at `dir` (the
/// folder that holds `runtime/`) with its interpreter, writing
/// `__pycache__/<stem>.cpython-311.pyc` beside each and replacing any
/// `__pycache__` folder there was. A source that does not compile is an
/// error: the stdlib of a toolchain must.
pub fn compile_stdlib(dir: &Path, limits: &crate::limits::Limits) -> Result<Summary> {
    let started = Instant::now();
    let toolchain = crate::toolchain::Toolchain::from_dir(dir)?;
    let stdlib = toolchain.python_home.join(STDLIB_SUBDIR);
    let mut sources = Vec::new();
    list_sources(&stdlib, "", &mut sources)?;
    sources.sort();
    if sources.is_empty() {
        bail!("no `.py` files in `{}`", stdlib.display());
    }

    let interpreter = std::fs::read(&toolchain.interpreter)
        .with_context(|| format!("reading `{}`", toolchain.interpreter.display()))?;
    let library = empty_world_library()?;
    let placement = crate::merge::placement(&interpreter, &library)?;
    let link = crate::preinit::Link { interpreter: &interpreter, library: &library, placement };
    let guest: Vec<String> = sources.iter().map(|rel| format!("/python/{STDLIB_SUBDIR}/{rel}")).collect();
    // The sources are compiled from a copy with real files: in a Bazel
    // sandbox they are symlinks out of the folder, which the guest's WASI
    // sandbox does not follow. The guest paths (and so the pycs) are the same.
    let copy = tempfile::tempdir().context("creating a temporary folder")?;
    for rel in &sources {
        let (from, to) = (stdlib.join(rel), copy.path().join(STDLIB_SUBDIR).join(rel));
        std::fs::create_dir_all(to.parent().context("a source without a folder")?)
            .with_context(|| format!("creating the folder of `{}`", to.display()))?;
        std::fs::copy(&from, &to).with_context(|| format!("copying `{}`", from.display()))?;
    }
    let pycs = crate::preinit::compile_python_home(&link, copy.path(), &guest, limits)?;
    if pycs.len() != sources.len() {
        bail!("the byte-code pre-pass returned {} pycs for {} sources", pycs.len(), sources.len());
    }

    remove_pycache_folders(&stdlib)?;
    let mut bytes = 0;
    for (rel, pyc) in sources.iter().zip(pycs) {
        let Some(pyc) = pyc else {
            bail!("`{}` does not compile with the toolchain's interpreter", stdlib.join(rel).display());
        };
        let source = stdlib.join(rel);
        let folder = source.parent().context("a source without a folder")?.join("__pycache__");
        let stem = rel.rsplit('/').next().and_then(|name| name.strip_suffix(".py")).context("a source name")?;
        std::fs::create_dir_all(&folder).with_context(|| format!("creating `{}`", folder.display()))?;
        crate::componentize::write_atomically(&folder.join(format!("{stem}.{CACHE_TAG}.pyc")), &pyc)?;
        bytes += pyc.len() as u64;
    }
    Ok(Summary { files: sources.len(), bytes, seconds: started.elapsed().as_secs_f64() })
}

/// The `.py` files below `dir`, as `/`-separated paths after `prefix`
/// (`__pycache__` folders left out).
fn list_sources(dir: &Path, prefix: &str, found: &mut Vec<String>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing `{}`", dir.display()))? {
        let entry = entry.with_context(|| format!("listing `{}`", dir.display()))?;
        let Ok(name) = entry.file_name().into_string() else {
            bail!("a file name that is not UTF-8 in `{}`", dir.display());
        };
        let meta = std::fs::metadata(entry.path()).with_context(|| format!("reading `{}`", entry.path().display()))?;
        if meta.is_dir() {
            if name != "__pycache__" {
                list_sources(&entry.path(), &format!("{prefix}{name}/"), found)?;
            }
        } else if name.ends_with(".py") {
            found.push(format!("{prefix}{name}"));
        }
    }
    Ok(())
}

/// Remove every `__pycache__` folder below `dir`.
fn remove_pycache_folders(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing `{}`", dir.display()))? {
        let entry = entry.with_context(|| format!("listing `{}`", dir.display()))?;
        if !entry.file_type().is_ok_and(|kind| kind.is_dir()) {
            continue;
        }
        let path: PathBuf = entry.path();
        if entry.file_name() == "__pycache__" {
            std::fs::remove_dir_all(&path).with_context(|| format!("removing `{}`", path.display()))?;
        } else {
            remove_pycache_folders(&path)?;
        }
    }
    Ok(())
}

/// The bindings library of a world with no imports and no exports: what a
/// pre-pass instance needs besides the interpreter.
fn empty_world_library() -> Result<Vec<u8>> {
    let (resolve, world) = crate::wit::empty_world("stdlib", "stdlib")?;
    let (library, _) = wit_dylib::create_with_metadata(&resolve, world, None)
        .context("generating the stdlib pre-pass's bindings library")?;
    Ok(library)
}
