//! `componentize-py.toml` files in dependencies, as upstream
//! componentize-py reads them.
//!
//! A Python package on the `-p` path (an SDK wrapping a WIT API, say) may
//! carry a `componentize-py.toml` anywhere below its folder. Its keys, all
//! optional, paths relative to the file's folder and inside it:
//!
//! - `wit_directory = "wit"`: a WIT folder whose world is merged into the
//!   component's world (the folder's only world, or the one named with `-w`);
//! - `bindings = "bindings"`: where the package imports the generated bindings
//!   from: a tree of modules re-exporting the generated package (`wit_world`)
//!   is mounted at that folder (`<package>.<bindings>`) while building (the
//!   folder must exist; bindings generated there for an IDE are shadowed);
//! - `import_interface_names`, `export_interface_names`: tables
//!   `"ns:pkg/iface@ver" = "module"`, as `--import-interface-name`;
//! - `full_names = true`, as `--full-names` for the interfaces that come
//!   from this package's world (not those the app's world, or an earlier
//!   package's, has too: see [`crate::wit::FullNames`]).
//!
//! Command-line options win over the files. Of several copies of one
//! package on the path, only the first one's file counts, as Python imports
//! only that copy.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// The file name looked for.
pub const FILE_NAME: &str = "componentize-py.toml";

/// One `componentize-py.toml` found on the Python path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Library {
    /// The top-level package it belongs to.
    pub module: String,
    /// Which `-p` folder holds the package (its index).
    pub python_path_index: usize,
    /// The file's folder, relative to the `-p` folder (`sdk` or `sdk/sub`).
    pub dir: PathBuf,
    /// `wit_directory`, resolved (absolute, inside the file's folder).
    pub wit_directory: Option<PathBuf>,
    /// `bindings`, relative to the `-p` folder (`sdk/bindings`).
    pub bindings: Option<PathBuf>,
    /// `import_interface_names`, sorted by interface.
    pub import_interface_names: Vec<(String, String)>,
    /// `export_interface_names`, sorted by interface.
    pub export_interface_names: Vec<(String, String)>,
    /// `full_names`.
    pub full_names: bool,
}

impl Library {
    /// The Python name of the generated package when `bindings` is set:
    /// `sdk.bindings` for `sdk/bindings`.
    pub fn bindings_module(&self) -> Option<String> {
        let path = self.bindings.as_ref()?;
        let parts: Vec<&str> = path.iter().filter_map(|part| part.to_str()).collect();
        Some(parts.join("."))
    }
}

/// Find every `componentize-py.toml` below the `-p` folders, in path order
/// and sorted by path within a folder. Entries that are not folders are
/// skipped.
pub fn discover(python_path: &[PathBuf]) -> Result<Vec<Library>> {
    let mut libraries: Vec<Library> = Vec::new();
    // A `-p` folder inside another (`-p . -p deps`) is searched as its own
    // entry only: its packages are top-level packages there.
    let roots: Vec<PathBuf> = python_path.iter().filter_map(|p| p.canonicalize().ok()).collect();
    for (index, root) in python_path.iter().enumerate() {
        if !root.is_dir() {
            continue; // reported with the app's search (`componentize`)
        }
        let mut found = Vec::new();
        let others: Vec<&PathBuf> = match root.canonicalize() {
            Ok(own) => roots.iter().filter(|r| **r != own).collect(),
            Err(_) => roots.iter().collect(),
        };
        search(root, Path::new(""), &others, &mut found)?;
        for relative in found {
            let module = match relative.iter().next() {
                Some(first) if relative.components().count() > 1 => first.to_string_lossy().into_owned(),
                _ => bail!(
                    "`{}`: a {FILE_NAME} belongs in a package folder below the python path entry, not in the entry itself",
                    root.join(&relative).display()
                ),
            };
            // A copy of the package in an earlier `-p` folder, with or
            // without a file, is the one Python imports: this one is not.
            let shadowed = python_path[..index]
                .iter()
                .any(|earlier| earlier.join(&module).is_dir() || earlier.join(format!("{module}.py")).is_file());
            if shadowed {
                continue;
            }
            if let Some(other) = libraries.iter().find(|l| l.module == module) {
                bail!(
                    "package `{module}` has two {FILE_NAME} files: `{}` and `{}`",
                    python_path[other.python_path_index].join(&other.dir).join(FILE_NAME).display(),
                    root.join(&relative).display()
                );
            }
            let dir = relative.parent().unwrap_or(Path::new("")).to_path_buf();
            let library = parse(root, &dir, module, index)
                .with_context(|| format!("reading `{}`", root.join(&relative).display()))?;
            libraries.push(library);
        }
    }
    Ok(libraries)
}

/// Where the generated package goes when a library asks for it: the
/// `bindings` folder, mounted over its copy in `-p` folder `python_path_index`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindingsMount {
    /// Index of the `-p` folder.
    pub python_path_index: usize,
    /// The folder relative to it (`sdk/bindings`).
    pub folder: PathBuf,
    /// The folder as a Python package (`sdk.bindings`).
    pub package: String,
    /// The library's top-level package (`sdk`).
    pub module: String,
}

/// The command line's WIT and naming options with the libraries' added:
/// their WIT folders, interface names (the command line's win) and
/// `full_names` (per library, in `WitOptions::library_full_names`); and
/// where the generated package goes for each library
/// that sets `bindings` (a tree of modules re-exporting the package's).
///
/// `module_worlds` are upstream's `-m MODULE=WORLD`: the world to take from
/// package MODULE's WIT folder (an error when MODULE has no file or no
/// `wit_directory`).
pub fn apply(
    libraries: &[Library],
    wit: &crate::wit::WitOptions,
    naming: &crate::bindings::Options,
    module_worlds: &[(String, String)],
) -> Result<(crate::wit::WitOptions, crate::bindings::Options, Vec<BindingsMount>)> {
    for (module, world) in module_worlds {
        match libraries.iter().find(|library| library.module == *module) {
            None => bail!(
                "-m `{module}={world}`: no {FILE_NAME} file found for module `{module}` on the python path"
            ),
            Some(library) if library.wit_directory.is_none() => bail!(
                "-m `{module}={world}`: the {FILE_NAME} of module `{module}` has no `wit_directory`"
            ),
            Some(_) => {}
        }
    }
    let mut wit = wit.clone();
    let mut naming = naming.clone();
    let mut mounts = Vec::new();
    // As upstream: the libraries named with `-m` first, in that order
    // (upstream asks for it to follow the packages' dependencies), then
    // the others in path order. The order decides which world an interface
    // that several have is named after (`crate::wit::FullNames`).
    let mut ordered: Vec<&Library> = Vec::new();
    for (module, _) in module_worlds {
        if let Some(library) = libraries.iter().find(|library| library.module == *module) {
            if !ordered.iter().any(|seen| std::ptr::eq(*seen, library)) {
                ordered.push(library);
            }
        }
    }
    for library in libraries {
        if !ordered.iter().any(|seen| std::ptr::eq(*seen, library)) {
            ordered.push(library);
        }
    }
    for library in ordered {
        if let Some(path) = &library.wit_directory {
            wit.library_paths.push(path.clone());
            let world = module_worlds.iter().rev().find(|(module, _)| *module == library.module);
            wit.library_worlds.push(world.map(|(_, world)| world.clone()));
            wit.library_full_names.push(library.full_names);
        }
        for (interface, module) in &library.import_interface_names {
            if !naming.import_interface_names.iter().any(|(i, _)| i == interface) {
                naming.import_interface_names.push((interface.clone(), module.clone()));
            }
        }
        for (interface, module) in &library.export_interface_names {
            if !naming.export_interface_names.iter().any(|(i, _)| i == interface) {
                naming.export_interface_names.push((interface.clone(), module.clone()));
            }
        }
        let (Some(folder), Some(package)) = (&library.bindings, library.bindings_module()) else {
            continue;
        };
        mounts.push(BindingsMount {
            python_path_index: library.python_path_index,
            folder: folder.clone(),
            package,
            module: library.module.clone(),
        });
    }
    // As upstream, the package keeps its own name (`wit_world`, or
    // `--world-module`); each `bindings` folder gets a tree of modules
    // re-exporting it, so that every SDK sees the same classes.
    Ok((wit, naming, mounts))
}

/// Collect the paths (relative to the `-p` folder) of the files below `dir`.
fn search(root: &Path, dir: &Path, skip: &[&PathBuf], found: &mut Vec<PathBuf>) -> Result<()> {
    let full = root.join(dir);
    let listing = match std::fs::read_dir(&full) {
        // A folder this user may not read holds no package of theirs.
        Err(error) if error.kind() == std::io::ErrorKind::PermissionDenied && !dir.as_os_str().is_empty() => {
            return Ok(())
        }
        listing => listing.with_context(|| format!("reading folder `{}`", full.display()))?,
    };
    let mut entries: Vec<_> = listing
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("reading folder `{}`", full.display()))?;
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let name = entry.file_name();
        let relative = dir.join(&name);
        let kind = entry.file_type().with_context(|| format!("reading `{}`", entry.path().display()))?;
        if kind.is_dir() {
            let name = name.to_string_lossy();
            // Not Python packages: hidden folders (.git, .venv), caches,
            // Bazel's convenience links are symlinks and not followed.
            let other_entry = || entry.path().canonicalize().is_ok_and(|p| skip.contains(&&p));
            if !name.starts_with('.') && name != "__pycache__" && name != "node_modules" && !other_entry() {
                search(root, &relative, skip, found)?;
            }
        } else if name == FILE_NAME {
            found.push(relative);
        }
    }
    Ok(())
}

fn parse(root: &Path, dir: &Path, module: String, index: usize) -> Result<Library> {
    let folder = root.join(dir);
    let text = std::fs::read_to_string(folder.join(FILE_NAME))?;
    let table: toml::Table = text.parse().context("not valid TOML")?;
    let base = folder
        .canonicalize()
        .with_context(|| format!("resolving `{}`", folder.display()))?;
    let inside = |key: &str, value: &str| -> Result<PathBuf> {
        let path = base.join(value);
        let path = path
            .canonicalize()
            .with_context(|| format!("`{key}`: `{}` does not exist", folder.join(value).display()))?;
        if !path.starts_with(&base) || !path.is_dir() {
            bail!("`{key}` must name a folder inside `{}`, not `{value}`", folder.display());
        }
        Ok(path)
    };
    let mut library = Library {
        module,
        python_path_index: index,
        dir: dir.to_path_buf(),
        ..Library::default()
    };
    for (key, value) in &table {
        match key.as_str() {
            "wit_directory" => {
                library.wit_directory = Some(inside(key, string(key, value)?)?);
            }
            "bindings" => {
                let path = inside(key, string(key, value)?)?;
                if path == base {
                    bail!("`bindings` must name a folder below `{}`, not the folder itself", folder.display());
                }
                let relative = dir.join(path.strip_prefix(&base).unwrap_or(&path));
                let valid = relative
                    .iter()
                    .all(|part| part.to_str().is_some_and(crate::bindings::is_identifier));
                if !valid {
                    bail!("`bindings`: `{}` is not a Python package path", relative.display());
                }
                library.bindings = Some(relative);
            }
            "import_interface_names" => library.import_interface_names = names(key, value)?,
            "export_interface_names" => library.export_interface_names = names(key, value)?,
            "full_names" => {
                library.full_names = value
                    .as_bool()
                    .with_context(|| format!("`{key}` must be true or false"))?;
            }
            other => bail!(
                "unknown key `{other}` (known: wit_directory, bindings, import_interface_names, export_interface_names, full_names)"
            ),
        }
    }
    Ok(library)
}

fn string<'a>(key: &str, value: &'a toml::Value) -> Result<&'a str> {
    value.as_str().with_context(|| format!("`{key}` must be a string"))
}

fn names(key: &str, value: &toml::Value) -> Result<Vec<(String, String)>> {
    let table = value
        .as_table()
        .with_context(|| format!("`{key}` must be a table of \"interface\" = \"module\""))?;
    table
        .iter()
        .map(|(interface, module)| {
            let module = module
                .as_str()
                .with_context(|| format!("`{key}`: the name for `{interface}` must be a string"))?;
            Ok((interface.clone(), module.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, path: &str, text: &str) {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn finds_and_reads_files_in_packages() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(root, "sdk/__init__.py", "");
        write(root, "sdk/wit/world.wit", "package a:b; world w {}");
        write(root, "sdk/bindings/__init__.py", "");
        write(
            root,
            "sdk/componentize-py.toml",
            "wit_directory = \"wit\"\nbindings = \"bindings\"\nfull_names = true\n\
             [import_interface_names]\n\"a:b/c\" = \"c_mod\"\n",
        );
        write(root, ".venv/x/componentize-py.toml", "this is not read");
        let found = discover(&[root.to_path_buf()]).unwrap();
        assert_eq!(found.len(), 1);
        let sdk = &found[0];
        assert_eq!(sdk.module, "sdk");
        assert_eq!(sdk.bindings_module().as_deref(), Some("sdk.bindings"));
        assert!(sdk.wit_directory.as_ref().unwrap().ends_with("sdk/wit"));
        assert!(sdk.full_names);
        assert_eq!(sdk.import_interface_names, [("a:b/c".to_string(), "c_mod".to_string())]);
    }

    #[test]
    fn bad_files_are_errors_that_name_the_problem() {
        let cases = [
            ("wit_directory = \"../elsewhere\"", "must name a folder inside"),
            ("wit_directory = \"missing\"", "does not exist"),
            ("wit_directory = 3", "must be a string"),
            ("full_names = \"yes\"", "must be true or false"),
            ("colour = \"blue\"", "unknown key `colour`"),
            ("[export_interface_names]\n\"a:b/c\" = 1", "must be a string"),
            ("bindings = \".\"", "not the folder itself"),
            ("wit_directory = ", "not valid TOML"),
        ];
        for (text, expected) in cases {
            let tmp = tempfile::tempdir().unwrap();
            write(tmp.path(), "elsewhere/x.wit", "");
            write(tmp.path(), "sdk/componentize-py.toml", text);
            let error = format!("{:#}", discover(&[tmp.path().to_path_buf()]).unwrap_err());
            assert!(error.contains(expected), "{text}: {error}");
        }
    }

    #[test]
    fn first_copy_on_the_path_wins_and_top_level_files_are_rejected() {
        let first = tempfile::tempdir().unwrap();
        let second = tempfile::tempdir().unwrap();
        write(first.path(), "sdk/componentize-py.toml", "full_names = true");
        write(second.path(), "sdk/componentize-py.toml", "full_names = false");
        let found = discover(&[first.path().to_path_buf(), second.path().to_path_buf()]).unwrap();
        assert_eq!(found.len(), 1);
        assert!(found[0].full_names);
        // An earlier copy without a file shadows a later one's file too.
        let bare = tempfile::tempdir().unwrap();
        write(bare.path(), "sdk/__init__.py", "");
        assert!(discover(&[bare.path().to_path_buf(), second.path().to_path_buf()]).unwrap().is_empty());

        // `-p first -p first/sdk`: the file belongs to `first/sdk`'s
        // packages only, here a top-level one, which is rejected.
        let nested = discover(&[first.path().to_path_buf(), first.path().join("sdk")]);
        assert!(format!("{:#}", nested.unwrap_err()).contains("belongs in a package folder"));

        write(first.path(), "sdk/sub/componentize-py.toml", "");
        let error = format!("{:#}", discover(&[first.path().to_path_buf()]).unwrap_err());
        assert!(error.contains("has two componentize-py.toml files"), "{error}");

        let top = tempfile::tempdir().unwrap();
        write(top.path(), "componentize-py.toml", "");
        let error = format!("{:#}", discover(&[top.path().to_path_buf()]).unwrap_err());
        assert!(error.contains("belongs in a package folder"), "{error}");
    }
}
