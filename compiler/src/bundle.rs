//! Which Python modules a component carries for imports at run time.
//!
//! At run time a component sees no file system with Python sources: the
//! stdlib and the `-p` folders exist only while it is built. Everything the
//! app imported while being built is in the snapshot already; a module first
//! imported later (inside a function, say) must be carried as byte code.
//! `bundle.py` runs at the end of pre-initialisation, compiles the modules
//! that [`Mode`] selects and installs the import finder that serves them.

use anyhow::{bail, Result};
use std::str::FromStr;

/// The bundler, written next to the generated bindings as
/// [`MODULE_FILE`] and imported by the runtime (runtime/init.c).
pub const SOURCE: &str = include_str!("bundle.py");

/// File name of [`SOURCE`] in the bindings folder.
pub const MODULE_FILE: &str = "_componentize_py_bundle.py";

/// How many modules to carry besides those imported at build time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// None: a module not imported at build time fails to import at run
    /// time (as in upstream componentize-py), unless named in
    /// [`Options::packages`].
    Imported,
    /// Every module that an `import` statement anywhere in the imported
    /// modules names (inside functions too), transitively.
    #[default]
    Reachable,
    /// The whole stdlib and every module in the `-p` folders.
    All,
}

impl Mode {
    /// The name used on the command line and by the runtime.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Imported => "imported",
            Mode::Reachable => "reachable",
            Mode::All => "all",
        }
    }
}

impl FromStr for Mode {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Mode> {
        match s {
            "imported" => Ok(Mode::Imported),
            "reachable" => Ok(Mode::Reachable),
            "all" => Ok(Mode::All),
            _ => bail!("unknown bundle mode `{s}` (expected `imported`, `reachable` or `all`)"),
        }
    }
}

/// What to bundle: a [`Mode`] and packages to carry whole.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// How far to look for modules.
    pub mode: Mode,
    /// Modules or packages (with every submodule) carried in any mode, for
    /// imports by computed name (`importlib.import_module`).
    pub packages: Vec<String>,
}

impl Options {
    /// Check the package names before Python starts.
    pub fn check(&self) -> Result<()> {
        for name in &self.packages {
            if !name.split('.').all(crate::bindings::is_identifier) {
                bail!("--bundle-package `{name}` is not a Python module name");
            }
        }
        Ok(())
    }

    /// The environment variables the runtime reads them from.
    pub fn env(&self) -> [(&'static str, String); 2] {
        [
            ("COMPONENTIZE_PY_BUNDLE", self.mode.name().to_string()),
            ("COMPONENTIZE_PY_BUNDLE_PACKAGES", self.packages.join(",")),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names_are_checked() {
        let options = |name: &str| Options { mode: Mode::Reachable, packages: vec![name.into()] };
        assert!(options("idna").check().is_ok());
        assert!(options("email.mime").check().is_ok());
        for bad in ["", "a..b", "1abc", "a-b", "a/b"] {
            assert!(options(bad).check().is_err(), "{bad}");
        }
    }

    #[test]
    fn modes_round_trip() {
        for mode in [Mode::Imported, Mode::Reachable, Mode::All] {
            assert_eq!(mode.name().parse::<Mode>().unwrap(), mode);
        }
        assert!("everything".parse::<Mode>().is_err());
    }
}
