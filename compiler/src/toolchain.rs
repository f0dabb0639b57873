//! Locating the toolchain: the interpreter module and the Python stdlib made
//! by `scripts/setup.sh` (or provided by Bazel), or the copy embedded in the
//! binary ([`crate::embedded`]).

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Environment variable naming the toolchain folder; `--toolchain` wins over it.
pub const TOOLCHAIN_ENV: &str = "COMPONENTIZE_PY_TOOLCHAIN";

/// The build inputs that come from the toolchain rather than the user.
#[derive(Clone, Debug)]
pub struct Toolchain {
    /// The interpreter core module (`runtime/interpreter.wasm`).
    pub interpreter: PathBuf,
    /// The interpreter with the component model's async ABI
    /// (`runtime/interpreter-async.wasm`), for worlds that use async; it
    /// imports the canonical async built-ins, which other worlds must not.
    pub interpreter_async: PathBuf,
    /// The folder mounted at `/python` during pre-initialisation; it holds
    /// `lib/python3.11/`.
    pub python_home: PathBuf,
    /// The interpreter compiled ahead of time for this kind of host
    /// (`runtime/precompiled`, made by `componentize-py
    /// precompile-interpreter`; may be absent).
    pub precompiled: PathBuf,
    /// Keeps the embedded toolchain's temporary folder while in use.
    _unpacked: Option<crate::embedded::Unpacked>,
}

impl Toolchain {
    /// A toolchain folder laid out as `scripts/setup.sh` leaves `.toolchain/`:
    /// `runtime/interpreter.wasm` and `runtime/python/lib/python3.11/`.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let runtime = dir.join("runtime");
        let toolchain = Toolchain {
            interpreter: runtime.join("interpreter.wasm"),
            interpreter_async: runtime.join("interpreter-async.wasm"),
            python_home: runtime.join("python"),
            precompiled: runtime.join(crate::preinit::PRECOMPILED_SUBDIR),
            _unpacked: None,
        };
        if !toolchain.interpreter.is_file() {
            bail!(
                "toolchain at `{}` has no interpreter module (`runtime/interpreter.wasm`); \
                 run scripts/setup.sh",
                dir.display()
            );
        }
        if !toolchain.python_home.join("lib/python3.11").is_dir() {
            bail!(
                "toolchain at `{}` has no Python stdlib (`runtime/python/lib/python3.11`); \
                 run scripts/setup.sh",
                dir.display()
            );
        }
        Ok(toolchain)
    }

    /// Find the toolchain: an explicit folder, else `$COMPONENTIZE_PY_TOOLCHAIN`,
    /// else the one embedded in this binary (unpacked into the cache folder
    /// on first use), else a `.toolchain/` folder in a parent of the running
    /// executable (the layout of a source checkout:
    /// `target/release/componentize-py`).
    pub fn find(explicit: Option<&Path>) -> Result<Self> {
        if let Some(dir) = explicit {
            return Self::from_dir(dir);
        }
        if let Some(dir) = std::env::var_os(TOOLCHAIN_ENV) {
            return Self::from_dir(Path::new(&dir))
                .with_context(|| format!("using ${TOOLCHAIN_ENV}"));
        }
        if let Some(unpacked) = crate::embedded::unpack()? {
            let mut toolchain = Self::from_dir(&unpacked.dir).with_context(|| {
                format!(
                    "the embedded toolchain, unpacked at `{}` (remove that folder to unpack it again)",
                    unpacked.dir.display()
                )
            })?;
            toolchain._unpacked = Some(unpacked);
            return Ok(toolchain);
        }
        let exe = std::env::current_exe().context("locating the running executable")?;
        for dir in exe.ancestors().skip(1) {
            let candidate = dir.join(".toolchain");
            if candidate.join("runtime/interpreter.wasm").is_file() {
                return Self::from_dir(&candidate);
            }
        }
        bail!(
            "no toolchain found: this componentize-py was built without an embedded \
             toolchain (no .toolchain/ when cargo built it); run scripts/setup.sh in the \
             source checkout and rebuild, or pass --toolchain DIR or set ${TOOLCHAIN_ENV}"
        )
    }
}
