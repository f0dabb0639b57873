//! WIT resolution: the user's `-d` paths plus the bundled WASI packages, and
//! world selection.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use wit_parser::{PackageId, PackageName, Resolve, WorldId};

include!(concat!(env!("OUT_DIR"), "/wasi_wit.rs"));

/// What to resolve: the `-d`/`--wit-path` arguments, the `-w`/`--world`
/// arguments and the feature gates.
#[derive(Clone, Debug, Default)]
pub struct WitOptions {
    /// Files or directories holding WIT packages (`deps/` folders included).
    pub paths: Vec<PathBuf>,
    /// World names; empty means "the only world in the main package". Several
    /// worlds are merged into the first.
    pub worlds: Vec<String>,
    /// `@unstable(feature = ...)` gates to enable.
    pub features: Vec<String>,
    /// Enable every feature gate.
    pub all_features: bool,
}

/// Resolve the WIT described by `options` and select (or merge) its world.
///
/// The WASI 0.2 packages bundled from the `wasmtime-wasi` crate are added for
/// any `wasi:*` package the user's files do not provide, so `wasi:cli/command`
/// works without copying WIT files.
pub fn resolve(options: &WitOptions) -> Result<(Resolve, WorldId)> {
    if options.paths.is_empty() {
        bail!("no WIT given: pass a WIT file or directory with `-d`/`--wit-path`");
    }
    for path in &options.paths {
        if !path.exists() {
            bail!("WIT path `{}` does not exist", path.display());
        }
    }

    let new_resolve = || {
        let mut resolve = Resolve::default();
        resolve.all_features = options.all_features;
        for feature in &options.features {
            resolve.features.insert(feature.clone());
        }
        resolve
    };

    // First the user's WIT alone; when it refers to WASI packages it does not
    // carry, again with the bundled WASI packages loaded first.
    let (mut resolve, main) = match push_paths(new_resolve(), &options.paths) {
        Ok(ok) => ok,
        Err(first_error) => {
            let mut with_wasi = new_resolve();
            add_wasi(&mut with_wasi).context("loading the bundled WASI WIT packages")?;
            match push_paths(with_wasi, &options.paths) {
                Ok(ok) => ok,
                Err(_) => return Err(first_error),
            }
        }
    };
    add_wasi(&mut resolve).context("loading the bundled WASI WIT packages")?;

    let mut worlds = Vec::new();
    if options.worlds.is_empty() {
        worlds.push(select_world(&resolve, &main, None)?);
    }
    for name in &options.worlds {
        worlds.push(select_world(&resolve, &main, Some(name))?);
    }
    let world = worlds[0];
    for other in &worlds[1..] {
        let mut clone_maps = Default::default();
        resolve
            .merge_worlds(*other, world, &mut clone_maps)
            .with_context(|| {
                format!(
                    "merging world `{}` into `{}`",
                    resolve.worlds[*other].name, resolve.worlds[world].name
                )
            })?;
    }
    Ok((resolve, world))
}

/// Push every path; a panic inside wit-parser (it asserts on a package added
/// twice) becomes an error.
fn push_paths(mut resolve: Resolve, paths: &[PathBuf]) -> Result<(Resolve, Vec<PackageId>)> {
    let mut main = Vec::new();
    for path in paths {
        let pushed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            resolve.push_path(path)
        }));
        let (pkg, _) = match pushed {
            Ok(Ok(pushed)) => pushed,
            // The rendering adds file, line and a source snippet.
            Ok(Err(error)) => bail!("{}:\n{}", describe(path), resolve.render_error(&error)),
            Err(_) => bail!("{}: a package is defined twice", describe(path)),
        };
        main.push(pkg);
    }
    Ok((resolve, main))
}

fn describe(path: &Path) -> String {
    format!("failed to parse WIT at `{}`", path.display())
}

/// Add each bundled WASI package that `resolve` does not have yet.
fn add_wasi(resolve: &mut Resolve) -> Result<()> {
    for (file, contents) in WASI_WIT {
        let group = wit_parser::UnresolvedPackageGroup::parse(*file, contents)
            .map_err(|(_, error)| anyhow::anyhow!("parsing bundled {file}: {error:?}"))?;
        if resolve.package_names.contains_key(&group.main.name) {
            continue;
        }
        resolve
            .push_group(group)
            .with_context(|| format!("resolving bundled {file}"))?;
    }
    Ok(())
}

/// Find a world by name. A fully qualified name whose exact version is absent
/// falls back to the newest semver-compatible version present (so
/// `wasi:cli/command@0.2.0` selects the bundled `wasi:cli/command@0.2.12`).
fn select_world(resolve: &Resolve, main: &[PackageId], name: Option<&str>) -> Result<WorldId> {
    // A qualified name is looked up among all packages, but wit-parser still
    // wants the main packages (it fails with none).
    let exact = resolve.select_world(main, name);
    let error = match exact {
        Ok(world) => return Ok(world),
        Err(e) => e,
    };
    if let Some(world) = name.and_then(|name| compatible_world(resolve, name)) {
        return Ok(world);
    }
    let known = known_worlds(resolve);
    Err(error).with_context(|| match name {
        Some(name) => format!("unknown world `{name}`; known worlds: {known}"),
        None => format!("no world was named with `-w`; known worlds: {known}"),
    })
}

fn compatible_world(resolve: &Resolve, name: &str) -> Option<WorldId> {
    let (pkg, rest) = name.split_once('/')?;
    let (world, version) = rest.split_once('@')?;
    let wanted = semver::Version::parse(version).ok()?;
    let (namespace, pkg_name) = pkg.split_once(':')?;
    let compatible = |v: &semver::Version| {
        v.major == wanted.major && (v.major != 0 || v.minor == wanted.minor) && *v >= wanted
    };
    let (_, id) = resolve
        .package_names
        .iter()
        .filter(|(n, _): &(&PackageName, _)| {
            n.namespace == namespace
                && n.name == pkg_name
                && n.version.as_ref().is_some_and(compatible)
        })
        .max_by(|(a, _), (b, _)| a.version.cmp(&b.version))?;
    resolve.packages[*id].worlds.get(world).copied()
}

fn known_worlds(resolve: &Resolve) -> String {
    let mut names: Vec<String> = resolve
        .worlds
        .iter()
        .filter_map(|(_, w)| {
            let pkg = w.package?;
            let pkg = &resolve.packages[pkg].name;
            (pkg.namespace != "wasi").then(|| format!("{pkg}/{}", w.name))
        })
        .collect();
    names.sort();
    if names.is_empty() {
        "none outside wasi:*".into()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(dir: &Path, world: &str) -> WitOptions {
        WitOptions {
            paths: vec![dir.to_path_buf()],
            worlds: vec![world.into()],
            ..Default::default()
        }
    }

    #[test]
    fn wasi_command_resolves_from_bundled_packages() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("w.wit"), "package a:b; world w {}").unwrap();
        let (resolve, world) = resolve(&options(dir.path(), "wasi:cli/command@0.2.0")).unwrap();
        assert_eq!(resolve.worlds[world].name, "command");
    }

    #[test]
    fn qualified_world_without_version() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("w.wit"), "package a:b; world w {} world v {}").unwrap();
        let (resolve, world) = resolve(&options(dir.path(), "a:b/v")).unwrap();
        assert_eq!(resolve.worlds[world].name, "v");
    }

    #[test]
    fn unknown_world_names_the_known_ones() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("w.wit"), "package a:b; world w {}").unwrap();
        let err = resolve(&options(dir.path(), "nope")).unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains("unknown world `nope`"), "{text}");
        assert!(text.contains("a:b/w"), "{text}");
    }

    #[test]
    fn syntax_error_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bad.wit"), "package a:b;\nworld w {\n  export f: func(;\n}\n")
            .unwrap();
        let err = resolve(&options(dir.path(), "w")).unwrap_err();
        let text = format!("{err:?}");
        assert!(text.contains("bad.wit:3"), "{text}");
    }

    #[test]
    fn missing_path_is_an_error() {
        let err = resolve(&options(Path::new("/does/not/exist.wit"), "w")).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }
}
