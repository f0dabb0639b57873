//! Python bindings (`wit_world` package) for a WIT world.
//!
//! The layout follows upstream componentize-py (see `docs/internals.md`,
//! section 3):
//!
//! ```text
//! componentize_py_types.py      `Some`, `Ok`, `Err`, `Result` (top level, as upstream)
//! wit_world/__init__.py          world-level types and imported functions, `WitWorld`
//! wit_world/imports/<iface>.py   an imported interface: its types and functions
//! wit_world/exports/__init__.py  one `Protocol` per exported interface
//! wit_world/exports/<iface>.py   an exported interface's types
//! wit_world/_registry.py         the classes the runtime needs, in metadata order
//! ```
//!
//! How it is organised: [`Generator`] knows where every WIT type lives
//! (which Python module, under which class name); [`PyFile`] collects one
//! module's body and the `import` lines that body needs. Every type reference
//! goes through [`Generator::annotation`], which adds those imports, so a
//! module never refers to a name it has not imported.
//!
//! WIT doc comments become docstrings: of the module (a world or an
//! interface, also the exported interface's `Protocol`), of classes (records,
//! variant cases, enums, flags, resources), of functions and methods; a
//! record field, an enum or flags member, a variant's `Union` and a type
//! alias get an attribute docstring (a string right after the assignment,
//! which Sphinx and editors show).
//!
//! Every module starts with `from __future__ import annotations`, so
//! annotations are never evaluated at run time: a class may mention itself or
//! a later class in its signatures. Only plain assignments (type aliases and
//! variant `Union`s) are evaluated, and WIT's type order (a type only refers
//! to types defined before it) keeps those valid.
//!
//! The code is split by concern: [`naming`] turns WIT names into Python
//! ones, [`pyfile`] writes one Python module, [`annotations`] turns WIT
//! types into annotations, [`types`] defines the named types, [`functions`]
//! the functions and Protocols, and [`files`] puts each file of the package
//! together (the registry included).

mod annotations;
mod files;
mod functions;
mod naming;
mod pyfile;
mod streams;
mod types;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context, Result};
use wit_parser::{InterfaceId, Resolve, WorldId};

use naming::{check_identifier, world_interfaces};
use pyfile::Module;

/// Default name of the generated package (upstream's). The runtime imports
/// the registry `<package>._registry` of whatever package the compiler names
/// in `COMPONENTIZE_PY_WORLD_MODULE` while pre-initialising.
pub const DEFAULT_WORLD_MODULE: &str = "wit_world";

/// How the generated modules are named (upstream's `--world-module`,
/// `--import-interface-name`, `--export-interface-name`, `--full-names`).
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Name of the generated top-level package; `wit_world` when None. It
    /// also names the class of the world-level exports (upstream's rule:
    /// the package name in UpperCamelCase, `WitWorld`, `Tests` for
    /// `--world-module tests`).
    pub world_module: Option<String>,
    /// `(interface, module name)`: the module (and, for an export, Protocol
    /// class) name of an imported interface, the interface spelled as in the
    /// component (`ns:pkg/iface@version`, or the plain name of a world-level
    /// interface).
    pub import_interface_names: Vec<(String, String)>,
    /// The same for exported interfaces.
    pub export_interface_names: Vec<(String, String)>,
    /// Qualify every interface module with its package
    /// (`namespace_package_iface`), not only ambiguous ones.
    pub full_names: bool,
    /// The interfaces that get qualified module names besides (those a
    /// dependency with `full_names` brings, see `crate::wit::FullNames`).
    pub full_names_of: crate::wit::FullNames,
}

impl Options {
    /// The generated package's name.
    pub fn package(&self) -> &str {
        self.world_module.as_deref().unwrap_or(DEFAULT_WORLD_MODULE)
    }

    /// The class the app defines for the world-level exports (and the
    /// generated `Protocol` it follows): the world module's name in
    /// UpperCamelCase, as upstream (`wit_world` -> `WitWorld`).
    pub fn world_class(&self) -> String {
        let module = self.world_module.as_deref().unwrap_or(DEFAULT_WORLD_MODULE);
        naming::escape_keyword(heck::ToUpperCamelCase::to_upper_camel_case(module))
    }
}

/// The type stub of the runtime's builtin module, which the `bindings`
/// subcommand writes next to the package so that type checkers find it.
pub const RUNTIME_STUB_PYI: &str = r#""""
Type stub of `componentize_py_runtime`, the builtin module of the
componentize-py runtime that the generated bindings call.
"""
from typing import Any, Tuple


def call_import(index: int, args: Tuple[Any, ...]) -> Any: ...


def resource_drop(index: int, obj: Any) -> None: ...


# Only in the async interpreter (worlds with async functions, streams or
# futures), which `componentize_py_async_support` drives.

def call_task_return(index: int, cx: int, value: Any, is_err: bool) -> None: ...


def call_import_async(index: int, args: Tuple[Any, ...]) -> Tuple[int, Any]: ...


def promise_get_result(promise: Any) -> Any: ...


def waitable_set_new() -> int: ...


def waitable_set_drop(waitable_set: int) -> None: ...


def waitable_join(waitable: int, waitable_set: int) -> None: ...


def subtask_drop(subtask: int) -> None: ...


def context_get() -> Any: ...


def context_set(value: Any) -> None: ...


def stream_new(ty: int) -> int: ...


def stream_read(ty: int, handle: int, max_count: int) -> Tuple[int, Any]: ...


def stream_write(ty: int, handle: int, values: Any) -> Tuple[int, Any]: ...


def stream_drop_readable(ty: int, handle: int) -> None: ...


def stream_drop_writable(ty: int, handle: int) -> None: ...


def future_new(ty: int) -> int: ...


def future_read(ty: int, handle: int) -> Tuple[int, Any]: ...


def future_write(ty: int, handle: int, value: Any) -> Tuple[int, Any]: ...


def future_drop_readable(ty: int, handle: int) -> None: ...


def future_drop_writable(ty: int, handle: int) -> None: ...


def io_get_result(promise: Any, code: int) -> Any: ...


def io_cancel(promise: Any) -> int: ...
"#;

/// A plain-Python `componentize_py_runtime`, which the `bindings`
/// subcommand writes beside the stub so that the generated package imports
/// with any Python (tests, IDEs, documentation tools), as upstream's does;
/// `call_import` raises `NotImplementedError`. Inside a component the
/// runtime's builtin module of that name is found first (CPython's
/// `BuiltinImporter` precedes the path finder on `sys.meta_path`), so a copy
/// of this file in an app's folder is never used there.
pub const RUNTIME_STUB_PY: &str = r#""""
Stand-in for `componentize_py_runtime`, the builtin module of the
componentize-py runtime: the generated bindings call WIT imports through it,
which works only inside a component. Outside one (host Python, tests, IDEs)
the bindings import, and calling an import raises `NotImplementedError`.
"""

_MESSAGE = (
    "the componentize-py bindings call WIT imports only inside a component "
    "built by componentize-py"
)


def call_import(index, args):
    raise NotImplementedError(_MESSAGE)


def resource_drop(index, obj):
    # Outside a component no object owns a handle (making one calls an
    # import): nothing to drop, also when a failed constructor's object is
    # collected.
    return None
"#;


pub(crate) use naming::is_identifier;

/// The top-level module of the generic wrappers (`Some`, `Ok`, `Err`,
/// `Result`) that every generated module and the registry import, as
/// upstream's bindings do. It is not part of the package: `componentize`
/// puts it on the guest's path, `bindings` writes it beside the package.
pub const TYPES_MODULE: &str = "componentize_py_types";

/// The source of [`TYPES_MODULE`]: dataclasses, as upstream's, for type
/// checkers and at run time (so every component imports `dataclasses`).
pub const TYPES_MODULE_SOURCE: &str = include_str!("componentize_py_types.py");

/// The file of [`TYPES_MODULE`], relative to a folder on the python path.
pub fn types_module_file() -> (String, String) {
    (format!("{TYPES_MODULE}.py"), TYPES_MODULE_SOURCE.to_string())
}

/// The package that runs async exports and awaits async imports on
/// `asyncio` (upstream's name; its `spawn` is for apps). It is written only
/// for worlds with an `async` function ([`crate::wit::uses_async`]), beside
/// the package like [`TYPES_MODULE`], so that other worlds' output does not
/// change.
pub const ASYNC_MODULE: &str = "componentize_py_async_support";

/// The source of [`ASYNC_MODULE`]'s `__init__.py`.
pub const ASYNC_MODULE_SOURCE: &str = include_str!("componentize_py_async_support.py");

/// The source of `componentize_py_async_support.streams` (upstream's
/// `ByteStreamReader`, `ByteStreamWriter`, `StreamReader`, `StreamWriter`).
pub const ASYNC_STREAMS_SOURCE: &str = include_str!("componentize_py_async_support_streams.py");

/// The source of `componentize_py_async_support.futures` (upstream's
/// `FutureReader`, `FutureWriter`).
pub const ASYNC_FUTURES_SOURCE: &str = include_str!("componentize_py_async_support_futures.py");

/// The files of [`ASYNC_MODULE`] for `world`, relative to a folder on the
/// python path: none unless the world uses async (an `async` function, a
/// stream or a future).
pub fn async_support_files(resolve: &Resolve, world: WorldId) -> Vec<(String, String)> {
    if crate::wit::uses_async(resolve, world) {
        vec![
            (format!("{ASYNC_MODULE}/__init__.py"), ASYNC_MODULE_SOURCE.to_string()),
            (format!("{ASYNC_MODULE}/futures.py"), ASYNC_FUTURES_SOURCE.to_string()),
            (format!("{ASYNC_MODULE}/streams.py"), ASYNC_STREAMS_SOURCE.to_string()),
        ]
    } else {
        Vec::new()
    }
}

/// Generate the `wit_world` package for `world`: a list of
/// `(path relative to the output directory, file contents)`, sorted by path.
/// Its modules import [`TYPES_MODULE`], which is not in the list.
///
/// `metadata` is the bindings library's metadata from
/// `wit_dylib::create_with_metadata` for the same world; the generated
/// registry (`wit_world/_registry.py`) follows its table order.
pub fn generate(
    resolve: &Resolve,
    world: WorldId,
    metadata: &wit_dylib::Metadata,
) -> Result<Vec<(String, String)>> {
    generate_with(resolve, world, metadata, &Options::default())
}

/// [`generate`] with naming options; the package is `options.package()`.
pub fn generate_with(
    resolve: &Resolve,
    world: WorldId,
    metadata: &wit_dylib::Metadata,
    options: &Options,
) -> Result<Vec<(String, String)>> {
    let generator = Generator::new(resolve, world, metadata, options)?;
    let world_name = &resolve.worlds[world].name;
    let package = options.package();
    // A dotted package (`sdk.bindings`, see `config`) lives in `sdk/bindings/`.
    let folder = package.replace('.', "/");

    let mut files = BTreeMap::new();
    let mut add = |(path, contents): (String, String)| files.insert(path, contents);
    add(generator
        .world_module()
        .with_context(|| format!("generating the bindings of world `{world_name}`"))?);
    // As upstream: `imports` and `exports` only when the world has such
    // interfaces.
    if !generator.imports.is_empty() {
        add((
            format!("{folder}/imports/__init__.py"),
            "\"\"\"\nThe world's imported interfaces, one module each.\n\"\"\"\n".to_string(),
        ));
    }
    for interface in &generator.imports {
        add(generator.import_module(interface).with_context(|| {
            format!("generating the bindings of imported interface `{}`", interface.key_name)
        })?);
    }
    if !generator.exports.is_empty() {
        add(generator
            .exports_package()
            .context("generating the Protocols of the exported interfaces")?);
    }
    for interface in &generator.exports {
        add(generator.export_module(interface).with_context(|| {
            format!("generating the bindings of exported interface `{}`", interface.key_name)
        })?);
    }
    add(generator
        .registry()
        .with_context(|| format!("generating `{package}/_registry.py`"))?);
    let imported: Vec<_> = generator.imports.iter().map(|i| (i.id, i.module_name.as_str())).collect();
    files.extend(crate::poll_loop::module(resolve, package, &imported, naming::variant_case_class));

    Ok(files.into_iter().collect())
}

/// A package `alias` whose modules re-export those of the generated
/// package `package` (`files` as [`generate_with`] made them): for each
/// module but the registry, a module of the same path below `alias` doing
/// `from <package>.<module> import *`. Several dependencies whose
/// `componentize-py.toml` sets `bindings` each get one, so that all of them
/// see the same classes (the runtime knows one package's).
pub fn alias_package(files: &[(String, String)], package: &str, alias: &str) -> Vec<(String, String)> {
    let folder = format!("{}/", package.replace('.', "/"));
    let alias_folder = format!("{}/", alias.replace('.', "/"));
    let mut aliased = Vec::new();
    for (path, _) in files {
        let Some(relative) = path.strip_prefix(&folder) else { continue };
        let Some(stem) = relative.strip_suffix(".py") else { continue };
        if stem == "_registry" {
            continue;
        }
        let module = stem.trim_end_matches("__init__").trim_end_matches('/').replace('/', ".");
        let target = if module.is_empty() { package.to_string() } else { format!("{package}.{module}") };
        let contents = format!(
            "\"\"\"\nThe generated bindings `{target}`, under this package's name.\n\"\"\"\n\
             from {target} import *  # noqa: F401,F403\n"
        );
        aliased.push((format!("{alias_folder}{relative}"), contents));
    }
    aliased
}

/// An interface the world imports or exports, with the module it gets.
struct Interface {
    id: InterfaceId,
    /// The key as the metadata spells it (`resolve.name_world_key`).
    key_name: String,
    /// Module name below `imports`/`exports` (snake case).
    module_name: String,
}

/// A function as the metadata names it: `(interface key, WIT name)`, the
/// interface being None for a world-level function.
type FunctionKey = (Option<String>, String);

/// Everything needed to write the modules: where each type lives and the
/// metadata indexes of the imported functions.
struct Generator<'a> {
    resolve: &'a Resolve,
    /// The generated package's name.
    package: &'a str,
    /// The class of the world-level exports (`WitWorld`).
    world_class: String,
    world: WorldId,
    metadata: &'a wit_dylib::Metadata,
    imports: Vec<Interface>,
    exports: Vec<Interface>,
    /// The module holding each interface's types: the `imports` module when
    /// the interface is imported (an exported twin re-exports them), else the
    /// `exports` one.
    type_homes: HashMap<InterfaceId, Module>,
    /// Index of each imported function in `metadata.import_funcs`.
    import_indexes: HashMap<FunctionKey, usize>,
}

impl<'a> Generator<'a> {
    fn new(
        resolve: &'a Resolve,
        world: WorldId,
        metadata: &'a wit_dylib::Metadata,
        options: &'a Options,
    ) -> Result<Self> {
        let package = options.package();
        // Dotted: a package inside another (`sdk.bindings`, see `config`).
        for part in package.split('.') {
            check_identifier(part, "--world-module")?;
        }
        let world_def = &resolve.worlds[world];
        let imports = world_interfaces(
            resolve,
            world_def.imports.iter(),
            &options.import_interface_names,
            |key| options.full_names || options.full_names_of.imports.iter().any(|k| k == key),
        )
        .context("naming the imported interfaces")?;
        let exports = world_interfaces(
            resolve,
            world_def.exports.iter(),
            &options.export_interface_names,
            |key| options.full_names || options.full_names_of.exports.iter().any(|k| k == key),
        )
        .context("naming the exported interfaces")?;

        let mut type_homes = HashMap::new();
        for interface in &exports {
            type_homes.insert(
                interface.id,
                Module::file(package, &format!("exports.{}", interface.module_name)),
            );
        }
        for interface in &imports {
            type_homes.insert(
                interface.id,
                Module::file(package, &format!("imports.{}", interface.module_name)),
            );
        }

        let import_indexes = metadata
            .import_funcs
            .iter()
            .enumerate()
            .map(|(index, func)| ((func.interface.clone(), func.name.clone()), index))
            .collect();

        let world_class = options.world_class();
        check_identifier(&world_class, "the world's class (from --world-module)")?;
        Ok(Generator {
            resolve,
            package,
            world_class,
            world,
            metadata,
            imports,
            exports,
            type_homes,
            import_indexes,
        })
    }
}
