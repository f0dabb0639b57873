//! WIT resolution: the user's `-d` paths plus the bundled WASI packages, and
//! world selection.

use anyhow::{bail, Context, Result};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use wit_parser::{
    Function, PackageId, PackageName, Resolve, Type, TypeDefKind, TypeId, UnresolvedPackageGroup,
    WorldId, WorldItem, WorldKey,
};

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
    /// WIT folders of dependencies (`wit_directory` in a
    /// `componentize-py.toml`, see [`crate::config`]): each one's world is
    /// merged into the selected world.
    pub library_paths: Vec<PathBuf>,
    /// The world to take from each of `library_paths` (same order; None:
    /// the folder's only world, or the one named like the first `-w`),
    /// upstream's `-m/--module-worlds`.
    pub library_worlds: Vec<Option<String>>,
    /// `full_names` of each of `library_paths` (same order; missing:
    /// false): the interfaces that come from that library's world get
    /// package-qualified module names (see [`FullNames`]).
    pub library_full_names: Vec<bool>,
    /// Upstream's `-i/--intersect-world`: keep only the imports and exports
    /// of the resolved world that this world (looked up like `-w`) has too.
    pub intersect_world: Option<String>,
}

/// The imports and exports (spelled as [`Resolve::name_world_key`] does)
/// whose modules get package-qualified names because they come from a
/// dependency whose `componentize-py.toml` sets `full_names = true`.
///
/// As upstream, each interface takes the naming of the first world that
/// has it (imports and exports apart), in the order: the `-w` worlds (or
/// the main world), then the dependencies' worlds in path order. So an SDK
/// with `full_names` gets full names for its own interfaces, not for the
/// ones the app's world (or an earlier SDK) has too, nor for the app's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FullNames {
    /// Imported interfaces.
    pub imports: Vec<String>,
    /// Exported interfaces.
    pub exports: Vec<String>,
}

/// Resolve the WIT described by `options` and select (or merge) its world.
///
/// The WASI 0.2 packages bundled from the `wasmtime-wasi` crate are added for
/// any `wasi:*` package the user's files do not provide, so `wasi:cli/command`
/// works without copying WIT files.
///
/// A world whose functions use a WIT feature the runtime does not support
/// (see [`check_supported`]) is an error.
pub fn resolve(options: &WitOptions) -> Result<(Resolve, WorldId)> {
    resolve_with_names(options).map(|(resolve, world, _)| (resolve, world))
}

/// [`resolve`], also saying which interfaces get full names
/// ([`FullNames`]).
pub fn resolve_with_names(options: &WitOptions) -> Result<(Resolve, WorldId, FullNames)> {
    // Without `-d`, a dependency's WIT folder is the main WIT (and its `-m`
    // world the main world).
    let library_world = |index: usize| options.library_worlds.get(index).cloned().flatten();
    let (paths, libraries, first_library, main_worlds) =
        match (options.paths.is_empty(), options.library_paths.split_first()) {
            (true, Some((first, rest))) => {
                let worlds = match (options.worlds.is_empty(), library_world(0)) {
                    (true, Some(world)) => vec![world],
                    _ => options.worlds.clone(),
                };
                (std::slice::from_ref(first), rest, 1, worlds)
            }
            _ => (options.paths.as_slice(), options.library_paths.as_slice(), 0, options.worlds.clone()),
        };
    if paths.is_empty() {
        bail!("no WIT given: pass a WIT file or directory with `-d`/`--wit-path`");
    }
    for path in paths {
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
    let (mut resolve, main) = match push_paths(new_resolve(), paths, false) {
        Ok(ok) => ok,
        Err(first_error) => {
            let mut with_wasi = new_resolve();
            add_wasi(&mut with_wasi).context("loading the bundled WASI WIT packages")?;
            match push_paths(with_wasi, paths, true) {
                Ok(ok) => ok,
                Err(_) => return Err(first_error),
            }
        }
    };
    add_wasi(&mut resolve).context("loading the bundled WASI WIT packages")?;

    let mut worlds = Vec::new();
    // With no `-w`, the main WIT's only world; as upstream, a main WIT
    // without worlds is fine when the dependencies bring some (`-m`).
    let main_has_no_world = main.iter().all(|package| resolve.packages[*package].worlds.is_empty());
    if main_worlds.is_empty() && !(main_has_no_world && !libraries.is_empty()) {
        worlds.push(select_world(&resolve, &main, None)?);
    }
    for name in &main_worlds {
        worlds.push(select_world(&resolve, &main, Some(name))?);
    }
    for (index, path) in libraries.iter().enumerate() {
        let (with_library, library_main) = push_paths(resolve, std::slice::from_ref(path), true)
            .with_context(|| format!("loading the WIT of a dependency, `{}`", path.display()))?;
        resolve = with_library;
        let chosen = match library_world(first_library + index) {
            // `-m module=world`
            Some(name) => select_world(&resolve, &library_main, Some(&name)),
            // The folder's only world, else the one named like the first `-w`.
            None => {
                let name = options.worlds.first().map(|name| name.rsplit('/').next().unwrap_or(name));
                select_world(&resolve, &library_main, None).or_else(|error| match name {
                    Some(name) => select_world(&resolve, &library_main, Some(name)),
                    None => Err(error),
                })
            }
        };
        let library_world =
            chosen.with_context(|| format!("choosing the world of `{}`", path.display()))?;
        worlds.push(library_world);
    }
    // Which world each interface is named after: `main_count` main worlds
    // (short names unless the main WIT is the first dependency's and no
    // `-w` chose its world), then one per dependency.
    let main_count = worlds.len() - libraries.len();
    let library_full = |index: usize| options.library_full_names.get(index).copied().unwrap_or(false);
    let main_full = first_library == 1 && options.worlds.is_empty() && library_full(0);
    let world_full: Vec<bool> = (0..worlds.len())
        .map(|i| if i < main_count { main_full } else { library_full(first_library + i - main_count) })
        .collect();
    let full_names = full_names_of(&resolve, &worlds, &world_full);
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
    if let Some(name) = &options.intersect_world {
        let intersector = select_world(&resolve, &main, Some(name))
            .with_context(|| format!("looking up the world of --intersect-world `{name}`"))?;
        intersect(&mut resolve, intersector, world);
    }
    check_supported(&resolve, world)?;
    Ok((resolve, world, full_names))
}

/// [`FullNames`] of `worlds` (before they are merged), `full[i]` saying
/// whether `worlds[i]` wants full names.
fn full_names_of(resolve: &Resolve, worlds: &[WorldId], full: &[bool]) -> FullNames {
    let mut names = FullNames::default();
    let mut seen_imports = HashSet::new();
    let mut seen_exports = HashSet::new();
    for (world, &full) in worlds.iter().zip(full) {
        let world = &resolve.worlds[*world];
        let sides = [(&world.imports, &mut seen_imports, &mut names.imports), (&world.exports, &mut seen_exports, &mut names.exports)];
        for (items, seen, out) in sides {
            for (key, item) in items {
                if !matches!(item, WorldItem::Interface { .. }) {
                    continue;
                }
                let name = resolve.name_world_key(key);
                if seen.insert(name.clone()) && full {
                    out.push(name);
                }
            }
        }
    }
    names
}

/// Remove from `world` every import and export whose name `intersector`
/// lacks (upstream's `--intersect-world`; the items themselves are not
/// compared, only their names).
fn intersect(resolve: &mut Resolve, intersector: WorldId, world: WorldId) {
    let keep = &resolve.worlds[intersector];
    let imports: HashSet<WorldKey> = keep.imports.keys().cloned().collect();
    let exports: HashSet<WorldKey> = keep.exports.keys().cloned().collect();
    let world = &mut resolve.worlds[world];
    world.imports.retain(|key, _| imports.contains(key));
    world.exports.retain(|key, _| exports.contains(key));
}

/// Fail, naming the function and the type, when a function of `world`
/// (world-level, or of an imported or exported interface) uses a type
/// the runtime cannot convert yet (also as the payload of a `stream` or
/// `future`): `error-context` (wit-dylib 0.263 has `todo!` there), `map<K, V>`,
/// fixed-length lists `list<T, N>` (wit-dylib 0.263 generates no code for
/// them), and `stream<char>` (which the component model's validation, in
/// wasmparser, rejects for now). Without this check such a world would build and then trap (or
/// make wit-dylib panic) at the first call.
///
/// Types no function uses are not checked: they never reach the runtime.
pub fn check_supported(resolve: &Resolve, world: WorldId) -> Result<()> {
    let world_def = &resolve.worlds[world];
    let items = (world_def.imports.iter().map(|item| ("imported", item)))
        .chain(world_def.exports.iter().map(|item| ("exported", item)));
    for (direction, (key, item)) in items {
        match item {
            WorldItem::Function(func) => check_function(resolve, direction, None, func)?,
            WorldItem::Interface { id, .. } => {
                let interface = resolve.name_world_key(key);
                for func in resolve.interfaces[*id].functions.values() {
                    check_function(resolve, direction, Some(&interface), func)?;
                }
            }
            WorldItem::Type { .. } => {}
        }
    }
    Ok(())
}

/// True when any function of `world` (world-level, or of an imported or
/// exported interface) is `async` or passes a `stream` or `future`: such a
/// world needs the async interpreter (`runtime/interpreter-async.wasm`) and
/// the `componentize_py_async_support` package; any other world is built
/// exactly as before async support.
pub fn uses_async(resolve: &Resolve, world: WorldId) -> bool {
    let needs_async =
        |func: &Function| func.kind.is_async() || function_uses_streams(resolve, func);
    let world_def = &resolve.worlds[world];
    world_def.imports.values().chain(world_def.exports.values()).any(|item| match item {
        WorldItem::Function(func) => needs_async(func),
        WorldItem::Interface { id, .. } => {
            resolve.interfaces[*id].functions.values().any(needs_async)
        }
        WorldItem::Type { .. } => false,
    })
}

/// True when a parameter or the result of `func` holds a `stream` or a
/// `future`, at any depth.
fn function_uses_streams(resolve: &Resolve, func: &Function) -> bool {
    let mut seen = HashSet::new();
    func.params
        .iter()
        .map(|param| param.ty)
        .chain(func.result)
        .any(|ty| holds_stream(resolve, ty, &mut seen))
}

fn holds_stream(resolve: &Resolve, ty: Type, seen: &mut HashSet<TypeId>) -> bool {
    let Type::Id(id) = ty else { return false };
    if !seen.insert(id) {
        return false;
    }
    let mut check = |inner: Type| holds_stream(resolve, inner, seen);
    match &resolve.types[id].kind {
        TypeDefKind::Stream(_) | TypeDefKind::Future(_) => true,
        TypeDefKind::Record(record) => record.fields.iter().any(|field| check(field.ty)),
        TypeDefKind::Variant(variant) => variant.cases.iter().filter_map(|case| case.ty).any(check),
        TypeDefKind::Tuple(tuple) => tuple.types.iter().copied().any(check),
        TypeDefKind::Option(inner)
        | TypeDefKind::List(inner)
        | TypeDefKind::FixedLengthList(inner, _)
        | TypeDefKind::Type(inner) => check(*inner),
        TypeDefKind::Map(key, value) => check(*key) || check(*value),
        TypeDefKind::Result(result) => result.ok.into_iter().chain(result.err).any(check),
        TypeDefKind::Flags(_)
        | TypeDefKind::Enum(_)
        | TypeDefKind::Resource
        | TypeDefKind::Handle(_)
        | TypeDefKind::Unknown => false,
    }
}

/// [`check_supported`] for one function.
fn check_function(
    resolve: &Resolve,
    direction: &str,
    interface: Option<&str>,
    func: &Function,
) -> Result<()> {
    let name = match interface {
        Some(interface) => format!("{interface}#{}", func.name),
        None => func.name.clone(),
    };
    let params = func.params.iter().map(|param| (format!("parameter `{}`", param.name), param.ty));
    let result = func.result.map(|ty| ("its result".to_string(), ty));
    for (place, ty) in params.chain(result) {
        if let Some(found) = unsupported_type(resolve, ty, None, &mut HashSet::new()) {
            let within = match &found.within {
                Some(named) => format!(" (inside type `{named}`)"),
                None => String::new(),
            };
            bail!(
                "{direction} function `{name}`: {place} uses `{}`{within}, which is not \
                 supported yet by componentize-py ({})",
                found.ty,
                found.reason
            );
        }
    }
    Ok(())
}

/// An unsupported type found inside a function's parameter or result.
struct Unsupported {
    /// The type, in WIT syntax.
    ty: String,
    /// The innermost named type containing it, if any.
    within: Option<String>,
    /// Why it is not supported.
    reason: &'static str,
}

/// The first unsupported type inside `ty`; `within` is the innermost named
/// type around it so far; `seen` stops the walk at types already checked.
fn unsupported_type(
    resolve: &Resolve,
    ty: Type,
    within: Option<&str>,
    seen: &mut HashSet<TypeId>,
) -> Option<Unsupported> {
    let found = |reason| Unsupported {
        ty: type_to_wit(resolve, ty),
        within: within.map(str::to_string),
        reason,
    };
    let id = match ty {
        Type::ErrorContext => {
            return Some(found("wit-dylib 0.263 generates no code for error contexts (`todo!`)"))
        }
        Type::Id(id) => id,
        _ => return None,
    };
    if !seen.insert(id) {
        return None;
    }
    let def = &resolve.types[id];
    let within = def.name.as_deref().or(within);
    let mut check = |inner: Type| unsupported_type(resolve, inner, within, seen);
    match &def.kind {
        TypeDefKind::Stream(Some(Type::Char)) => Some(found(
            "the component model does not allow `stream<char>` yet; \
             use `stream<u8>` with an encoding, or `stream<string>`",
        )),
        TypeDefKind::Stream(inner) | TypeDefKind::Future(inner) => inner.and_then(check),
        TypeDefKind::Map(..) => Some(found("the runtime does not convert maps yet")),
        TypeDefKind::FixedLengthList(..) => {
            Some(found("wit-dylib 0.263 generates no code for fixed-length lists"))
        }
        TypeDefKind::Record(record) => record.fields.iter().find_map(|field| check(field.ty)),
        TypeDefKind::Variant(variant) => {
            variant.cases.iter().filter_map(|case| case.ty).find_map(check)
        }
        TypeDefKind::Tuple(tuple) => tuple.types.iter().copied().find_map(check),
        TypeDefKind::Option(inner) | TypeDefKind::List(inner) | TypeDefKind::Type(inner) => {
            check(*inner)
        }
        TypeDefKind::Result(result) => result.ok.into_iter().chain(result.err).find_map(check),
        TypeDefKind::Flags(_)
        | TypeDefKind::Enum(_)
        | TypeDefKind::Resource
        | TypeDefKind::Handle(_)
        | TypeDefKind::Unknown => None,
    }
}

/// `ty` in WIT syntax, for messages (named types by name).
pub(crate) fn type_to_wit(resolve: &Resolve, ty: Type) -> String {
    let id = match ty {
        Type::Bool => return "bool".into(),
        Type::U8 => return "u8".into(),
        Type::U16 => return "u16".into(),
        Type::U32 => return "u32".into(),
        Type::U64 => return "u64".into(),
        Type::S8 => return "s8".into(),
        Type::S16 => return "s16".into(),
        Type::S32 => return "s32".into(),
        Type::S64 => return "s64".into(),
        Type::F32 => return "f32".into(),
        Type::F64 => return "f64".into(),
        Type::Char => return "char".into(),
        Type::String => return "string".into(),
        Type::ErrorContext => return "error-context".into(),
        Type::Id(id) => id,
    };
    let def = &resolve.types[id];
    if let Some(name) = &def.name {
        return name.clone();
    }
    let wit = |ty: Type| type_to_wit(resolve, ty);
    let optional = |ty: Option<Type>| ty.map_or("_".to_string(), wit);
    match &def.kind {
        TypeDefKind::Stream(Some(ty)) => format!("stream<{}>", wit(*ty)),
        TypeDefKind::Stream(None) => "stream".into(),
        TypeDefKind::Future(Some(ty)) => format!("future<{}>", wit(*ty)),
        TypeDefKind::Future(None) => "future".into(),
        TypeDefKind::Map(key, value) => format!("map<{}, {}>", wit(*key), wit(*value)),
        TypeDefKind::FixedLengthList(ty, len) => format!("list<{}, {len}>", wit(*ty)),
        TypeDefKind::List(ty) => format!("list<{}>", wit(*ty)),
        TypeDefKind::Option(ty) => format!("option<{}>", wit(*ty)),
        TypeDefKind::Result(result) => match (result.ok, result.err) {
            (None, None) => "result".into(),
            (ok, None) => format!("result<{}>", optional(ok)),
            (ok, err) => format!("result<{}, {}>", optional(ok), optional(err)),
        },
        TypeDefKind::Tuple(tuple) => {
            let types: Vec<String> = tuple.types.iter().map(|ty| wit(*ty)).collect();
            format!("tuple<{}>", types.join(", "))
        }
        TypeDefKind::Handle(wit_parser::Handle::Own(resource)) => wit(Type::Id(*resource)),
        TypeDefKind::Handle(wit_parser::Handle::Borrow(resource)) => {
            format!("borrow<{}>", wit(Type::Id(*resource)))
        }
        TypeDefKind::Type(ty) => wit(*ty),
        other => other.as_str().to_string(),
    }
}

/// Push every path; a panic inside wit-parser (it asserts on a package added
/// twice) becomes an error.
///
/// With `retarget_wasi` (for a `resolve` that already holds the bundled WASI
/// packages), a reference to a `wasi:*` package version that neither the
/// user's files nor the bundle have (say `include wasi:cli/imports@0.2.0`)
/// is pointed at the newest semver-compatible bundled version (0.2.12), as
/// `-w wasi:cli/command@0.2.0` is. WIT packages encoded as Wasm in `deps/`
/// are left to wit-parser's own loader (no retargeting). With
/// `retarget_wasi`, packages `resolve` already holds are not pushed again.
fn push_paths(
    mut resolve: Resolve,
    paths: &[PathBuf],
    retarget_wasi: bool,
) -> Result<(Resolve, Vec<PackageId>)> {
    let mut main = Vec::new();
    for path in paths {
        let parsed = if retarget_wasi { parse_path(path)? } else { None };
        let pushed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match parsed {
            Some((mut group, mut deps)) => {
                // Packages already loaded (the bundled WASI ones, or a
                // dependency's package that the app's deps/ carries too)
                // are used as they are: wit-parser asserts on a second copy.
                if let Some(&pkg) = resolve.package_names.get(&group.main.name) {
                    return Ok(pkg);
                }
                deps.retain(|dep| !resolve.package_names.contains_key(&dep.main.name));
                let defined: HashSet<PackageName> = std::iter::once(&group)
                    .chain(deps.iter())
                    .map(|g| g.main.name.clone())
                    .collect();
                for g in std::iter::once(&mut group).chain(deps.iter_mut()) {
                    retarget_wasi_deps(&resolve, &defined, g);
                }
                resolve.push_groups(group, deps).map_err(anyhow::Error::from)
            }
            None => resolve.push_path(path).map(|(pkg, _)| pkg),
        }));
        let pkg = match pushed {
            Ok(Ok(pkg)) => pkg,
            // The rendering adds file, line and a source snippet.
            Ok(Err(error)) => bail!("{}:\n{}", describe(path), resolve.render_error(&error)),
            Err(_) => bail!("{}: a package is defined twice", describe(path)),
        };
        main.push(pkg);
    }
    Ok((resolve, main))
}

/// Parse a WIT file, or a WIT folder and its `deps/` folder (as
/// `Resolve::push_dir` does), without resolving. `None` when `deps/` holds
/// a Wasm-encoded package, which only wit-parser's loader reads.
fn parse_path(path: &Path) -> Result<Option<(UnresolvedPackageGroup, Vec<UnresolvedPackageGroup>)>> {
    let parse_file = |file: &Path| -> Result<UnresolvedPackageGroup> {
        let contents = std::fs::read_to_string(file)
            .with_context(|| format!("reading WIT file `{}`", file.display()))?;
        // Syntax errors were already rendered by the first attempt (see
        // `resolve`), which is the error reported when this one fails too.
        UnresolvedPackageGroup::parse(file, &contents)
            .map_err(|(_, error)| anyhow::anyhow!("{}: {error}", describe(file)))
    };
    if !path.is_dir() {
        return Ok(Some((parse_file(path)?, Vec::new())));
    }
    let main = UnresolvedPackageGroup::parse_dir(path).with_context(|| describe(path))?;
    let mut deps = Vec::new();
    let deps_dir = path.join("deps");
    if deps_dir.is_dir() {
        let mut entries = std::fs::read_dir(&deps_dir)
            .and_then(|entries| entries.collect::<std::io::Result<Vec<_>>>())
            .with_context(|| format!("reading `{}`", deps_dir.display()))?;
        entries.sort_by_key(|entry| entry.file_name());
        for entry in entries {
            let dep = entry.path();
            if dep.is_dir() {
                deps.push(UnresolvedPackageGroup::parse_dir(&dep).with_context(|| describe(&dep))?);
                continue;
            }
            match dep.extension().and_then(|e| e.to_str()) {
                Some("wit") => deps.push(parse_file(&dep)?),
                Some("wasm") | Some("wat") => return Ok(None),
                _ => {}
            }
        }
    }
    Ok(Some((main, deps)))
}

/// Point `group`'s references to absent `wasi:*` versions at the newest
/// semver-compatible version in `resolve` (see [`push_paths`]).
fn retarget_wasi_deps(resolve: &Resolve, defined: &HashSet<PackageName>, group: &mut UnresolvedPackageGroup) {
    let old = std::mem::take(&mut group.main.foreign_deps);
    group.main.foreign_deps = old
        .into_iter()
        .map(|(name, items)| {
            let present = defined.contains(&name) || resolve.package_names.contains_key(&name);
            let name = match (&name.version, name.namespace.as_str(), present) {
                (Some(version), "wasi", false) => {
                    newest_compatible(resolve, &name.namespace, &name.name, version).unwrap_or(name)
                }
                _ => name,
            };
            (name, items)
        })
        .collect();
}

/// The newest package `namespace:name@v` in `resolve` with `v` semver-compatible
/// with `wanted` and at least as new.
fn newest_compatible(
    resolve: &Resolve,
    namespace: &str,
    name: &str,
    wanted: &semver::Version,
) -> Option<PackageName> {
    let compatible = |v: &semver::Version| {
        v.major == wanted.major && (v.major != 0 || v.minor == wanted.minor) && v >= wanted
    };
    resolve
        .package_names
        .keys()
        .filter(|n| {
            n.namespace == namespace && n.name == name && n.version.as_ref().is_some_and(compatible)
        })
        .max_by(|a, b| a.version.cmp(&b.version))
        .cloned()
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
    let (namespace, pkg_name) = pkg.split_once(':')?;
    let Some((world, version)) = rest.split_once('@') else {
        // No version, and the package is there in several (WASI 0.2 and
        // 0.3 are bundled): the oldest with that world, so that
        // `wasi:cli/command` stays WASI 0.2 and `wasi:http/service` (0.3
        // only) is found.
        return resolve
            .package_names
            .iter()
            .filter(|(n, _)| n.namespace == namespace && n.name == pkg_name)
            .filter_map(|(n, id)| Some((n.version.clone()?, *resolve.packages[*id].worlds.get(rest)?)))
            .min_by(|a, b| a.0.cmp(&b.0))
            .map(|(_, world)| world);
    };
    let wanted = semver::Version::parse(version).ok()?;
    let found = newest_compatible(resolve, namespace, pkg_name, &wanted)?;
    let id = resolve.package_names[&found];
    resolve.packages[id].worlds.get(world).copied()
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
    fn wasi_0_3_worlds_are_found_among_bundled_packages() {
        let mut resolve = Resolve::default();
        add_wasi(&mut resolve).unwrap();
        // Any main package: the names are fully qualified.
        let main = [*resolve.package_names.values().next().unwrap()];
        for (name, world, version) in [
            ("wasi:cli/command@0.3.0", "command", "0.3.0"),
            ("wasi:http/service@0.3.0", "service", "0.3.0"),
            // Without a version: the oldest bundled version that has it.
            ("wasi:cli/command", "command", "0.2."),
            ("wasi:http/proxy", "proxy", "0.2."),
            ("wasi:http/service", "service", "0.3.0"),
        ] {
            let id = select_world(&resolve, &main, Some(name)).unwrap_or_else(|e| panic!("{name}: {e:#}"));
            let w = &resolve.worlds[id];
            let package = &resolve.packages[w.package.unwrap()].name;
            assert_eq!(w.name, world, "{name}");
            assert!(package.version.as_ref().unwrap().to_string().starts_with(version), "{name}: {package}");
        }
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

    /// Two SDK folders: `s:one` (full names) imports `s:two/shared`, which
    /// `s:two` (short names, first with `-m` order) imports too; the
    /// app's world exports `a:b/api`, which `s:one` exports as well.
    fn sdks(root: &Path) -> WitOptions {
        let write = |path: &str, text: &str| {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write("app/app.wit", "package a:b;\ninterface api { f: func(); }\nworld w { export api; }\n");
        write("two/two.wit", "package s:two;\ninterface shared { g: func(); }\nworld two { import shared; }\n");
        write(
            "one/one.wit",
            "package s:one;\ninterface mine { h: func(); }\n\
             world one { import s:two/shared; export mine; export a:b/api; }\n",
        );
        write("one/deps/two/two.wit", "package s:two;\ninterface shared { g: func(); }\nworld two { import shared; }\n");
        write("one/deps/app/app.wit", "package a:b;\ninterface api { f: func(); }\n");
        WitOptions {
            paths: vec![root.join("app")],
            worlds: vec!["w".into()],
            library_paths: vec![root.join("two"), root.join("one")],
            library_full_names: vec![false, true],
            ..Default::default()
        }
    }

    #[test]
    fn full_names_go_to_the_interfaces_a_full_named_world_brings_first() {
        let dir = tempfile::tempdir().unwrap();
        let (resolve, world, names) = resolve_with_names(&sdks(dir.path())).unwrap();
        assert_eq!(names.imports, Vec::<String>::new(), "s:two names `shared` first");
        assert_eq!(names.exports, ["s:one/mine"], "the app's world names `api` first");
        let world = &resolve.worlds[world];
        assert_eq!(world.imports.len(), 1);
        assert_eq!(world.exports.len(), 2);

        // With the SDK that wants full names first, `shared` is its.
        let mut options = sdks(dir.path());
        options.library_paths.reverse();
        options.library_full_names.reverse();
        let (_, _, names) = resolve_with_names(&options).unwrap();
        assert_eq!(names.imports, ["s:two/shared"]);
    }

    #[test]
    fn a_main_wit_without_worlds_takes_the_libraries_worlds() {
        let dir = tempfile::tempdir().unwrap();
        let mut options = sdks(dir.path());
        std::fs::write(dir.path().join("app/app.wit"), "package a:b;\ninterface api { f: func(); }\n").unwrap();
        options.worlds.clear();
        let (resolve, world, _) = resolve_with_names(&options).unwrap();
        assert_eq!(resolve.worlds[world].exports.len(), 2);
        // Without libraries it is still an error.
        options.library_paths.clear();
        let error = resolve_with_names(&options).unwrap_err();
        assert!(format!("{error:#}").contains("no world was named with `-w`"), "{error:#}");
    }
}

/// A world with no imports and no exports, `componentize-py:<package>/<world>`,
/// for what the compiler builds itself (the stub adapter's world, the
/// stdlib pre-pass's bindings).
pub(crate) fn empty_world(package: &str, world: &str) -> Result<(Resolve, WorldId)> {
    let mut resolve = Resolve::default();
    let id = resolve
        .push_str(format!("{package}.wit"), &format!("package componentize-py:{package};\n\nworld {world} {{}}\n"))
        .with_context(|| format!("parsing the world `componentize-py:{package}/{world}`"))?;
    let world = resolve
        .select_world(&[id], Some(world))
        .with_context(|| format!("selecting the world `componentize-py:{package}/{world}`"))?;
    Ok((resolve, world))
}
