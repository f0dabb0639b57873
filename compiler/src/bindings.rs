//! Python bindings (`wit_world` package) for a WIT world.
//!
//! The layout follows upstream componentize-py (see `docs/internals.md`,
//! section 3):
//!
//! ```text
//! wit_world/__init__.py          world-level types and imported functions, `WitWorld`
//! wit_world/types.py             `Some`, `Ok`, `Err`, `Result`
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

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use anyhow::{bail, Context, Result};
use heck::{ToShoutySnakeCase, ToSnakeCase, ToUpperCamelCase};
use wit_parser::{
    Function, FunctionKind, Handle, InterfaceId, Resolve, Type, TypeDefKind, TypeId, TypeOwner,
    WorldId, WorldItem, WorldKey,
};

/// Default name of the generated package (upstream's). The runtime imports
/// the registry `<package>._registry` of whatever package the compiler names
/// in `COMPONENTIZE_PY_WORLD_MODULE` while pre-initialising.
pub const DEFAULT_WORLD_MODULE: &str = "wit_world";

/// How the generated modules are named (upstream's `--world-module`,
/// `--import-interface-name`, `--export-interface-name`, `--full-names`).
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Name of the generated top-level package; `wit_world` when None.
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
}

impl Options {
    /// The generated package's name.
    pub fn package(&self) -> &str {
        self.world_module.as_deref().unwrap_or(DEFAULT_WORLD_MODULE)
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
"#;

/// Python keywords: an identifier equal to one of these gets a `_` appended.
const KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class",
    "continue", "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if",
    "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try",
    "while", "with", "yield",
];

/// Names every generated module uses at module level (its standard imports
/// and the builtins used in annotations). A generated class or module-level
/// function with one of these names would shadow it, so it gets a `_`.
const RESERVED: &[&str] = &[
    "abstractmethod", "dataclass", "Enum", "Flag", "Any", "Dict", "List", "Optional", "Protocol",
    "Tuple", "Union", "Some", "Ok", "Err", "Result", "WitWorld", "bool", "int", "float", "str",
    "bytes", "staticmethod", "Exception", "NotImplementedError", "annotations",
];

/// The standard imports at the top of an interface or world module whose
/// body is `body`. `dataclasses` and `enum` only when the body uses them:
/// whatever a module imports is in every component's snapshot, and
/// `dataclasses` alone (it imports inspect, ast, dis, tokenize, ...) is
/// about 1.3 MB of it. A name merely mentioned (a docstring) only costs an
/// unneeded import.
fn standard_imports(body: &str) -> String {
    let mut imports = String::from("from abc import abstractmethod\n");
    if body.contains("dataclass") {
        imports.push_str("from dataclasses import dataclass\n");
    }
    match (body.contains("Enum"), body.contains("Flag")) {
        (true, true) => imports.push_str("from enum import Enum, Flag\n"),
        (true, false) => imports.push_str("from enum import Enum\n"),
        (false, true) => imports.push_str("from enum import Flag\n"),
        (false, false) => {}
    }
    imports.push_str("from typing import Any, Dict, List, Optional, Protocol, Tuple, Union\n");
    imports
}

/// `wit_world/types.py`: the generic wrappers shared with the runtime. Type
/// checkers see them as dataclasses; at run time they are written out, so
/// that no component imports `dataclasses` for them (see `standard_imports`).
const TYPES_PY: &str = r#""""
Generic wrappers used by the bindings: `Some` (an `option` nested in an
`option`), `Ok` and `Err` (a `result` used as a value), and `Result`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Generic, TypeVar, Union

T = TypeVar("T")
E = TypeVar("E")

if TYPE_CHECKING:
    from dataclasses import dataclass

    @dataclass
    class Some(Generic[T]):
        """
        A present value of an `option` whose payload is itself an `option`.
        """
        value: T

    @dataclass
    class Ok(Generic[T]):
        """
        The `ok` case of a `result`.
        """
        value: T

    @dataclass(frozen=True)
    class Err(Generic[E], Exception):
        """
        The `error` case of a `result`; raised by functions whose WIT result is a
        `result`.
        """
        value: E

else:
    # At run time, the same classes written out: what @dataclass would
    # generate (__init__, __repr__, __eq__, __match_args__; Some and Ok
    # unhashable, Err frozen and hashable). Importing `dataclasses` would
    # import inspect, ast, dis and tokenize into every component's snapshot.

    def _repr(self):
        return f"{type(self).__qualname__}(value={self.value!r})"

    def _eq(self, other):
        if other.__class__ is self.__class__:
            return (self.value,) == (other.value,)
        return NotImplemented

    class Some(Generic[T]):
        """
        A present value of an `option` whose payload is itself an `option`.
        """
        __match_args__ = ("value",)
        __hash__ = None
        __repr__ = _repr
        __eq__ = _eq

        def __init__(self, value):
            self.value = value

    class Ok(Generic[T]):
        """
        The `ok` case of a `result`.
        """
        __match_args__ = ("value",)
        __hash__ = None
        __repr__ = _repr
        __eq__ = _eq

        def __init__(self, value):
            self.value = value

    class Err(Generic[E], Exception):
        """
        The `error` case of a `result`; raised by functions whose WIT result is a
    `result`.
        """
        __match_args__ = ("value",)
        __repr__ = _repr
        __eq__ = _eq

        def __init__(self, value):
            object.__setattr__(self, "value", value)

        def __hash__(self):
            return hash((self.value,))

        def __setattr__(self, name, value):
            if type(self) is Err or name == "value":
                raise AttributeError(f"cannot assign to field {name!r}")
            super().__setattr__(name, value)

        def __delattr__(self, name):
            if type(self) is Err or name == "value":
                raise AttributeError(f"cannot delete field {name!r}")
            super().__delattr__(name)


Result = Union[Ok[T], Err[E]]
"#;

/// Generate the `wit_world` package for `world`: a list of
/// `(path relative to the output directory, file contents)`, sorted by path.
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
    add((format!("{folder}/types.py"), TYPES_PY.to_string()));
    add(generator
        .world_module()
        .with_context(|| format!("generating the bindings of world `{world_name}`"))?);
    add((
        format!("{folder}/imports/__init__.py"),
        "\"\"\"\nThe world's imported interfaces, one module each.\n\"\"\"\n".to_string(),
    ));
    for interface in &generator.imports {
        add(generator.import_module(interface).with_context(|| {
            format!("generating the bindings of imported interface `{}`", interface.key_name)
        })?);
    }
    add(generator
        .exports_package()
        .context("generating the Protocols of the exported interfaces")?);
    for interface in &generator.exports {
        add(generator.export_module(interface).with_context(|| {
            format!("generating the bindings of exported interface `{}`", interface.key_name)
        })?);
    }
    add(generator
        .registry()
        .with_context(|| format!("generating `{package}/_registry.py`"))?);
    let imported: Vec<_> = generator.imports.iter().map(|i| (i.id, i.module_name.as_str())).collect();
    files.extend(crate::poll_loop::module(resolve, package, &imported, variant_case_class));

    Ok(files.into_iter().collect())
}

/// A module of the generated package, as its dotted path below `wit_world`
/// (`""` is the package itself, `"imports.foo"` is `wit_world/imports/foo.py`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Module {
    /// The generated package's name (`wit_world` by default).
    package: String,
    path: String,
    /// Whether the module is a package (an `__init__.py`).
    is_package: bool,
}

impl Module {
    fn package(root: &str, path: &str) -> Self {
        Module { package: root.to_string(), path: path.to_string(), is_package: true }
    }

    fn file(root: &str, path: &str) -> Self {
        Module { package: root.to_string(), path: path.to_string(), is_package: false }
    }

    /// The file of this module, relative to the output directory.
    fn file_path(&self) -> String {
        let mut path = self.package.replace('.', "/");
        for part in self.path.split('.').filter(|part| !part.is_empty()) {
            path.push('/');
            path.push_str(part);
        }
        if self.is_package {
            path.push_str("/__init__.py");
        } else {
            path.push_str(".py");
        }
        path
    }

    /// The package this module belongs to (itself, for a package).
    fn parent_package(&self) -> &str {
        if self.is_package {
            &self.path
        } else {
            self.path.rsplit_once('.').map_or("", |(parent, _)| parent)
        }
    }

    /// How this module names `target` (a dotted path below `wit_world`) in a
    /// relative import: `.shapes` from a sibling, `..imports.shapes` from
    /// elsewhere, `.` for its own package.
    fn relative(&self, target: &str) -> String {
        let package = self.parent_package();
        if target == package {
            return ".".into();
        }
        if package.is_empty() {
            return format!(".{target}");
        }
        if let Some(rest) = target.strip_prefix(package).and_then(|r| r.strip_prefix('.')) {
            return format!(".{rest}");
        }
        let depth = package.split('.').count();
        format!("{}{target}", ".".repeat(depth + 1))
    }
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
    world: WorldId,
    metadata: &'a wit_dylib::Metadata,
    imports: Vec<Interface>,
    exports: Vec<Interface>,
    /// The module holding each interface's types: the `imports` module when
    /// the interface is imported (an exported twin re-exports them), else the
    /// `exports` one.
    type_homes: HashMap<InterfaceId, Module>,
    /// Name under which a module is imported where it is used qualified
    /// (`from ..imports import foo` then `foo.Point`).
    module_aliases: HashMap<String, String>,
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
            options.full_names,
        )
        .context("naming the imported interfaces")?;
        let exports = world_interfaces(
            resolve,
            world_def.exports.iter(),
            &options.export_interface_names,
            options.full_names,
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

        // A module is imported under its own name unless that name is
        // ambiguous (an interface both imported and exported, or a clash with
        // a name the module uses itself); then `imports_`/`exports_` is kept.
        let mut leaf_counts: HashMap<&str, usize> = HashMap::new();
        for interface in imports.iter().chain(&exports) {
            *leaf_counts.entry(interface.module_name.as_str()).or_default() += 1;
        }
        let mut module_aliases = HashMap::new();
        module_aliases.insert(String::new(), package.to_string());
        for (direction, list) in [("imports", &imports), ("exports", &exports)] {
            for interface in list {
                let leaf = &interface.module_name;
                let alias = if leaf_counts[leaf.as_str()] == 1
                    && leaf != package
                    && !RESERVED.contains(&leaf.as_str())
                {
                    leaf.clone()
                } else {
                    format!("{direction}_{leaf}")
                };
                module_aliases.insert(format!("{direction}.{leaf}"), alias);
            }
        }

        let import_indexes = metadata
            .import_funcs
            .iter()
            .enumerate()
            .map(|(index, func)| ((func.interface.clone(), func.name.clone()), index))
            .collect();

        Ok(Generator {
            resolve,
            package,
            world,
            metadata,
            imports,
            exports,
            type_homes,
            module_aliases,
            import_indexes,
        })
    }

    // ----- where things live and what they are called -----

    /// The module defining the types owned by `owner`.
    fn home_of(&self, owner: TypeOwner) -> Result<Module> {
        match owner {
            TypeOwner::World(_) => Ok(Module::package(self.package, "")),
            TypeOwner::Interface(id) => self.type_homes.get(&id).cloned().with_context(|| {
                format!(
                    "interface `{}` owns a type used by the world but is neither imported nor exported",
                    self.resolve.interfaces[id].name.as_deref().unwrap_or("<anonymous>")
                )
            }),
            TypeOwner::None => bail!("a named type has no owning interface or world"),
        }
    }

    /// The module defining named type `id` as seen from `from`: an exported
    /// interface that is imported as well has its types in the `imports`
    /// module, except its resources, which the `exports` modules see in
    /// their export flavour (see `define_resource`).
    fn resource_home(&self, id: TypeId, from: &Module) -> Result<Module> {
        let ty = &self.resolve.types[id];
        if let (TypeDefKind::Resource, TypeOwner::Interface(interface)) = (&ty.kind, ty.owner) {
            if from.path.starts_with("exports") {
                if let Some(export) = self.exports.iter().find(|e| e.id == interface) {
                    return Ok(Module::file(self.package, &format!("exports.{}", export.module_name)));
                }
            }
        }
        self.home_of(ty.owner)
    }

    /// The Python class (or alias) name of a named type.
    fn type_name(&self, id: TypeId) -> Result<String> {
        let name = self.resolve.types[id]
            .name
            .as_deref()
            .context("an anonymous type has no Python name")?;
        Ok(module_level_name(name.to_upper_camel_case()))
    }

    /// A reference to the named type `id` from `file`, importing its module
    /// when it lives elsewhere.
    fn type_ref(&self, id: TypeId, file: &mut PyFile) -> Result<String> {
        let name = self.type_name(id)?;
        let home = self.resource_home(id, &file.module)?;
        if home == file.module {
            return Ok(name);
        }
        let alias = self
            .module_aliases
            .get(&home.path)
            .with_context(|| format!("no alias for module `{}`", home.path))?;
        file.import_module(&home, alias);
        Ok(format!("{alias}.{name}"))
    }

    /// The Python annotation of a WIT type, as seen from `file`.
    fn annotation(&self, ty: Type, file: &mut PyFile) -> Result<String> {
        Ok(match ty {
            Type::Bool => "bool".into(),
            Type::U8
            | Type::U16
            | Type::U32
            | Type::U64
            | Type::S8
            | Type::S16
            | Type::S32
            | Type::S64
            | Type::ErrorContext => "int".into(),
            Type::F32 | Type::F64 => "float".into(),
            Type::Char | Type::String => "str".into(),
            Type::Id(id) if self.resolve.types[id].name.is_some() => self.type_ref(id, file)?,
            Type::Id(id) => self.structural_annotation(id, file)?,
        })
    }

    /// The annotation spelling out the structure of `id` (never its name).
    fn structural_annotation(&self, id: TypeId, file: &mut PyFile) -> Result<String> {
        let ty = &self.resolve.types[id];
        Ok(match &ty.kind {
            TypeDefKind::Option(inner) => {
                let inner_annotation = self.annotation(*inner, file)?;
                if is_option(self.resolve, *inner) {
                    format!("Optional[Some[{inner_annotation}]]")
                } else {
                    format!("Optional[{inner_annotation}]")
                }
            }
            TypeDefKind::Result(result) => format!(
                "Result[{}, {}]",
                self.optional_annotation(result.ok, file)?,
                self.optional_annotation(result.err, file)?
            ),
            TypeDefKind::List(Type::U8) => "bytes".into(),
            TypeDefKind::List(element) | TypeDefKind::FixedLengthList(element, _) => {
                format!("List[{}]", self.annotation(*element, file)?)
            }
            TypeDefKind::Map(key, value) => format!(
                "Dict[{}, {}]",
                self.annotation(*key, file)?,
                self.annotation(*value, file)?
            ),
            TypeDefKind::Tuple(tuple) if tuple.types.is_empty() => "Tuple[()]".into(),
            TypeDefKind::Tuple(tuple) => {
                let types = tuple
                    .types
                    .iter()
                    .map(|ty| self.annotation(*ty, file))
                    .collect::<Result<Vec<_>>>()?;
                format!("Tuple[{}]", types.join(", "))
            }
            TypeDefKind::Handle(Handle::Own(resource) | Handle::Borrow(resource)) => {
                self.annotation(Type::Id(*resource), file)?
            }
            TypeDefKind::Type(target) => self.annotation(*target, file)?,
            // Streams and futures are not supported yet; they are opaque here.
            TypeDefKind::Future(_) | TypeDefKind::Stream(_) => "Any".into(),
            TypeDefKind::Record(_)
            | TypeDefKind::Variant(_)
            | TypeDefKind::Enum(_)
            | TypeDefKind::Flags(_)
            | TypeDefKind::Resource => bail!("a {} type has no name", ty.kind.as_str()),
            TypeDefKind::Unknown => bail!("a type of unknown structure reached the bindings"),
        })
    }

    /// The annotation of an optional payload (`None` when absent).
    fn optional_annotation(&self, ty: Option<Type>, file: &mut PyFile) -> Result<String> {
        match ty {
            Some(ty) => self.annotation(ty, file),
            None => Ok("None".into()),
        }
    }

    // ----- type definitions -----

    /// Define the named types `ids` (in WIT order) in `file`.
    fn define_types(&self, ids: impl IntoIterator<Item = TypeId>, file: &mut PyFile) -> Result<()> {
        let mut ids: Vec<TypeId> = ids.into_iter().collect();
        // Arena order is definition order: a type only refers to earlier ones.
        ids.sort_by_key(|id| id.index());
        for id in ids {
            let name = self.resolve.types[id].name.as_deref().unwrap_or("<anonymous>");
            self.define_type(id, file)
                .with_context(|| format!("generating type `{name}`"))?;
        }
        Ok(())
    }

    /// Define one named type in `file`.
    fn define_type(&self, id: TypeId, file: &mut PyFile) -> Result<()> {
        let ty = &self.resolve.types[id];
        let name = self.type_name(id)?;
        let docs = ty.docs.contents.as_deref();
        let body = &mut String::new();
        match &ty.kind {
            TypeDefKind::Record(record) => {
                writeln!(body, "@dataclass\nclass {name}:")?;
                body.push_str(&docstring(docs, 1));
                for field in &record.fields {
                    let annotation = self.annotation(field.ty, file)?;
                    writeln!(body, "    {}: {annotation}", field_name(&field.name))?;
                    body.push_str(&docstring(field.docs.contents.as_deref(), 1));
                }
                if record.fields.is_empty() && docs.is_none() {
                    body.push_str("    pass\n");
                }
            }
            TypeDefKind::Variant(variant) => {
                let mut cases = Vec::new();
                for case in &variant.cases {
                    let case_name = variant_case_class(&name, &case.name);
                    writeln!(body, "@dataclass\nclass {case_name}:")?;
                    let case_docs = case.docs.contents.as_deref();
                    body.push_str(&docstring(case_docs, 1));
                    match case.ty {
                        Some(payload) => {
                            writeln!(body, "    value: {}", self.annotation(payload, file)?)?
                        }
                        None if case_docs.is_none() => body.push_str("    pass\n"),
                        None => {}
                    }
                    body.push_str("\n\n");
                    cases.push(case_name);
                }
                writeln!(body, "{name} = Union[{}]", cases.join(", "))?;
                body.push_str(&docstring(docs, 0));
            }
            TypeDefKind::Enum(enum_) => {
                writeln!(body, "class {name}(Enum):")?;
                body.push_str(&docstring(docs, 1));
                for (index, case) in enum_.cases.iter().enumerate() {
                    writeln!(body, "    {} = {index}", member_name(&case.name))?;
                    body.push_str(&docstring(case.docs.contents.as_deref(), 1));
                }
                if enum_.cases.is_empty() && docs.is_none() {
                    body.push_str("    pass\n");
                }
            }
            TypeDefKind::Flags(flags) => {
                writeln!(body, "class {name}(Flag):")?;
                body.push_str(&docstring(docs, 1));
                for (index, flag) in flags.flags.iter().enumerate() {
                    writeln!(body, "    {} = 1 << {index}", member_name(&flag.name))?;
                    body.push_str(&docstring(flag.docs.contents.as_deref(), 1));
                }
                if flags.flags.is_empty() && docs.is_none() {
                    body.push_str("    pass\n");
                }
            }
            TypeDefKind::Resource => self.define_resource(id, &name, body, file)?,
            // `use other.{point}`: import it from its own module.
            TypeDefKind::Type(Type::Id(target))
                if self.resolve.types[*target].owner != ty.owner =>
            {
                let home = self.home_of(self.resolve.types[*target].owner)?;
                file.import_name(&home, &self.type_name(*target)?, &name);
                return Ok(());
            }
            // Any other named type (`type x = list<u8>`, an alias) is an alias.
            _ => {
                writeln!(body, "{name} = {}", self.structural_annotation(id, file)?)?;
                body.push_str(&docstring(docs, 0));
            }
        }
        file.body.push_str(body);
        file.body.push_str("\n\n");
        Ok(())
    }

    /// The functions of resource `id` (constructor, methods, statics).
    fn resource_functions(&self, id: TypeId) -> Vec<&'a Function> {
        let resolve = self.resolve;
        let functions: Vec<&Function> = match resolve.types[id].owner {
            TypeOwner::Interface(interface) => {
                resolve.interfaces[interface].functions.values().collect()
            }
            TypeOwner::World(world) => resolve.worlds[world]
                .imports
                .values()
                .filter_map(|item| match item {
                    WorldItem::Function(func) => Some(func),
                    _ => None,
                })
                .collect(),
            TypeOwner::None => Vec::new(),
        };
        functions.into_iter().filter(|f| f.kind.resource() == Some(id)).collect()
    }

    /// Index of resource `id` in `metadata.resources`, the imported or the
    /// exported entry.
    fn resource_index(&self, id: TypeId, exported: bool) -> Result<usize> {
        self.metadata
            .resources
            .iter()
            .position(|r| r.id == id && r.new_elem_index.is_some() == exported)
            .with_context(|| {
                let name = self.resolve.types[id].name.as_deref().unwrap_or("<anonymous>");
                let direction = if exported { "exported" } else { "imported" };
                format!("{direction} resource `{name}` is missing from the metadata")
            })
    }

    /// The class of a resource: in an `exports` module, the `Protocol` the
    /// app's implementation follows; elsewhere, the imported resource's class
    /// whose instances hold a handle and call the host.
    fn define_resource(
        &self,
        id: TypeId,
        name: &str,
        body: &mut String,
        file: &mut PyFile,
    ) -> Result<()> {
        let exported = file.module.path.starts_with("exports");
        let ty = &self.resolve.types[id];
        if exported {
            writeln!(body, "class {name}(Protocol):")?;
        } else {
            writeln!(body, "class {name}:")?;
        }
        body.push_str(&docstring(ty.docs.contents.as_deref(), 1));
        let interface_key = match ty.owner {
            TypeOwner::Interface(interface) => {
                let found = self.imports.iter().find(|i| i.id == interface);
                found.map(|i| i.key_name.clone())
            }
            _ => None,
        };
        let index = if exported { None } else { Some(self.resource_index(id, false)?) };
        if index.is_some() {
            body.push_str("    _wit_handle: Optional[int] = None
");
            body.push_str("    _wit_borrow: Optional[int] = None
");
        }
        let mut any = index.is_some();
        for func in self.resource_functions(id) {
            any = true;
            // (decorator, Python name, leading WIT parameters that become `self`)
            let (decorator, method, receiver) = match func.kind {
                FunctionKind::Constructor(_) => ("", "__init__".to_string(), 0),
                FunctionKind::Static(_)
                | FunctionKind::AsyncStatic(_)
                | FunctionKind::StaticGetter(_)
                | FunctionKind::StaticSetter(_) => {
                    ("    @staticmethod\n", function_name(func.item_name()), 0)
                }
                _ => ("", function_name(func.item_name()), 1),
            };
            let is_constructor = matches!(func.kind, FunctionKind::Constructor(_));
            let signature = self
                .signature(func, receiver, file)
                .with_context(|| format!("generating resource function `{}`", func.name))?;
            let mut params = signature.params.clone();
            let mut returns = signature.returns.clone();
            if decorator.is_empty() {
                params.insert(0, "self".to_string());
            }
            if is_constructor {
                returns = "None".to_string();
            }
            let params = params.join(", ");
            let abstract_ = if exported && !is_constructor { "    @abstractmethod\n" } else { "" };
            write!(body, "\n{decorator}{abstract_}    def {method}({params}) -> {returns}:\n")?;
            body.push_str(&docstring(signature.docs.as_deref(), 2));
            if exported {
                body.push_str("        raise NotImplementedError\n");
                continue;
            }
            let import = *self
                .import_indexes
                .get(&(interface_key.clone(), func.name.clone()))
                .with_context(|| {
                    format!("imported function `{}` is missing from the metadata", func.name)
                })?;
            let mut args = signature.args.clone();
            if receiver == 1 {
                args.insert(0, "self".to_string());
            }
            let args = python_tuple(args);
            if is_constructor {
                writeln!(body, "        made: {name} = _rt.call_import({import}, {args})")?;
                body.push_str(
                    "        self._wit_handle, made._wit_handle = made._wit_handle, None\n",
                );
            } else if signature.returns == "None" {
                writeln!(body, "        _rt.call_import({import}, {args})")?;
            } else {
                writeln!(
                    body,
                    "        result: {} = _rt.call_import({import}, {args})",
                    signature.returns
                )?;
                body.push_str("        return result\n");
            }
        }
        if let Some(index) = index {
            write!(
                body,
                "\n    def __enter__(self) -> {name}:\n        return self\n\n    \
                 def __exit__(self, *args: Any) -> None:\n        \
                 \"\"\"\n        Drop the handle now; the object can no longer be used.\n        \
                 \"\"\"\n        _rt.resource_drop({index}, self)\n\n    \
                 def __del__(self) -> None:\n        _rt.resource_drop({index}, self)\n"
            )?;
            file.uses_runtime = true;
        }
        if !any && ty.docs.contents.is_none() {
            body.push_str("    pass\n");
        }
        Ok(())
    }

    // ----- functions -----

    /// The Python signature of `func`, leaving out its first `skip` parameters.
    fn signature(&self, func: &Function, skip: usize, file: &mut PyFile) -> Result<Signature> {
        let mut params = Vec::new();
        let mut args = Vec::new();
        for param in func.params.iter().skip(skip) {
            let name = param_name(&param.name);
            params.push(format!("{name}: {}", self.annotation(param.ty, file)?));
            args.push(name);
        }
        // A top-level `result` is unwrapped: return the ok value, raise `Err`.
        let (returns, raises) = match func.result {
            None => ("None".to_string(), None),
            Some(Type::Id(id)) if matches!(self.resolve.types[id].kind, TypeDefKind::Result(_)) => {
                let TypeDefKind::Result(result) = &self.resolve.types[id].kind else {
                    unreachable!()
                };
                (
                    self.optional_annotation(result.ok, file)?,
                    Some(self.optional_annotation(result.err, file)?),
                )
            }
            Some(ty) => (self.annotation(ty, file)?, None),
        };
        let raises_doc =
            raises.map(|err| format!("Raises: `{}.types.Err({err})`", self.package));
        let docs = match (func.docs.contents.as_deref(), raises_doc) {
            (Some(docs), Some(raises)) => Some(format!("{}\n\n{raises}", docs.trim_end())),
            (docs, raises) => raises.or(docs.map(str::to_string)),
        };
        Ok(Signature { params, args, returns, docs })
    }

    /// Define the imported freestanding function `func` of `interface` (None
    /// for the world) in `file`, calling the runtime by metadata index.
    fn define_import_function(
        &self,
        interface: Option<&str>,
        func: &Function,
        file: &mut PyFile,
    ) -> Result<()> {
        let index = *self
            .import_indexes
            .get(&(interface.map(str::to_string), func.name.clone()))
            .with_context(|| {
                format!("imported function `{}` is missing from the metadata", func.name)
            })?;
        let signature = self.signature(func, 0, file)?;
        let name = module_level_name(func.item_name().to_snake_case());
        let args = python_tuple(signature.args.clone());
        let body = &mut file.body;
        writeln!(body, "def {name}({}) -> {}:", signature.params.join(", "), signature.returns)?;
        body.push_str(&docstring(signature.docs.as_deref(), 1));
        if signature.returns == "None" {
            writeln!(body, "    _rt.call_import({index}, {args})")?;
        } else {
            writeln!(body, "    result: {} = _rt.call_import({index}, {args})", signature.returns)?;
            writeln!(body, "    return result")?;
        }
        body.push_str("\n\n");
        file.uses_runtime = true;
        Ok(())
    }

    /// Define `class <name>(Protocol)` with an abstract method per function.
    fn define_protocol<'f>(
        &self,
        name: &str,
        docs: Option<&str>,
        functions: impl IntoIterator<Item = &'f Function>,
        file: &mut PyFile,
    ) -> Result<()> {
        let mut body = format!("class {name}(Protocol):\n");
        body.push_str(&docstring(docs, 1));
        let mut any = false;
        for func in functions {
            any = true;
            let signature = self
                .signature(func, 0, file)
                .with_context(|| format!("generating exported function `{}`", func.name))?;
            let params = std::iter::once("self".to_string())
                .chain(signature.params)
                .collect::<Vec<_>>()
                .join(", ");
            write!(
                body,
                "\n    @abstractmethod\n    def {}({params}) -> {}:\n",
                function_name(func.item_name()),
                signature.returns
            )?;
            body.push_str(&docstring(signature.docs.as_deref(), 2));
            body.push_str("        raise NotImplementedError\n");
        }
        if !any && docs.is_none() {
            body.push_str("    pass\n");
        }
        file.body.push_str(&body);
        file.body.push_str("\n\n");
        Ok(())
    }

    // ----- modules -----

    /// `wit_world/__init__.py`: world-level types, imported functions and
    /// the `WitWorld` protocol of the world-level exports.
    fn world_module(&self) -> Result<(String, String)> {
        let world = &self.resolve.worlds[self.world];
        let mut file = PyFile::new(Module::package(self.package, ""));
        let types = world.imports.values().filter_map(|item| match item {
            WorldItem::Type { id, .. } => Some(*id),
            _ => None,
        });
        self.define_types(types, &mut file)?;
        for item in world.imports.values() {
            if let WorldItem::Function(func) = item {
                if func.kind.resource().is_some() {
                    continue; // in its resource's class
                }
                self.define_import_function(None, func, &mut file)
                    .with_context(|| format!("generating imported function `{}`", func.name))?;
            }
        }
        let exports = world.exports.values().filter_map(|item| match item {
            WorldItem::Function(func) => Some(func),
            _ => None,
        });
        self.define_protocol(
            "WitWorld",
            Some("The world's exported functions: implement them in a class `WitWorld`."),
            exports,
            &mut file,
        )?;
        Ok(file.finish(world.docs.contents.as_deref()))
    }

    /// `wit_world/imports/<iface>.py`: an imported interface's types and
    /// functions.
    fn import_module(&self, interface: &Interface) -> Result<(String, String)> {
        let def = &self.resolve.interfaces[interface.id];
        let mut file = PyFile::new(Module::file(self.package, &format!("imports.{}", interface.module_name)));
        self.define_types(def.types.values().copied(), &mut file)?;
        for func in def.functions.values() {
            if func.kind.resource().is_none() {
                self.define_import_function(Some(&interface.key_name), func, &mut file)
                    .with_context(|| format!("generating imported function `{}`", func.name))?;
            }
        }
        Ok(file.finish(def.docs.contents.as_deref()))
    }

    /// `wit_world/exports/<iface>.py`: an exported interface's types (taken
    /// from the `imports` module when the interface is imported as well).
    fn export_module(&self, interface: &Interface) -> Result<(String, String)> {
        let def = &self.resolve.interfaces[interface.id];
        let module = Module::file(self.package, &format!("exports.{}", interface.module_name));
        let mut file = PyFile::new(module.clone());
        let home = self.home_of(TypeOwner::Interface(interface.id))?;
        if home == module {
            self.define_types(def.types.values().copied(), &mut file)?;
        } else {
            // Resources get their export flavour here; the other types are
            // the imported interface's.
            let mut resources = Vec::new();
            for id in def.types.values() {
                if matches!(self.resolve.types[*id].kind, TypeDefKind::Resource) {
                    resources.push(*id);
                    continue;
                }
                for name in self.class_names(*id)? {
                    file.import_name(&home, &name, &name);
                }
            }
            self.define_types(resources, &mut file)?;
        }
        Ok(file.finish(def.docs.contents.as_deref()))
    }

    /// `wit_world/exports/__init__.py`: one `Protocol` per exported interface.
    fn exports_package(&self) -> Result<(String, String)> {
        let mut file = PyFile::new(Module::package(self.package, "exports"));
        for interface in &self.exports {
            let def = &self.resolve.interfaces[interface.id];
            let functions = def.functions.values().filter(|f| f.kind.resource().is_none());
            self.define_protocol(
                &protocol_name(&interface.module_name),
                def.docs.contents.as_deref(),
                functions,
                &mut file,
            )
            .with_context(|| format!("generating the Protocol of `{}`", interface.key_name))?;
        }
        Ok(file.finish(Some("The world's exported interfaces: implement each Protocol in a class of that name.")))
    }

    /// Every name a named type defines: its class, plus the case classes
    /// of a variant.
    fn class_names(&self, id: TypeId) -> Result<Vec<String>> {
        let name = self.type_name(id)?;
        let mut names = vec![name.clone()];
        if let TypeDefKind::Variant(variant) = &self.resolve.types[id].kind {
            names.extend(variant.cases.iter().map(|case| variant_case_class(&name, &case.name)));
        }
        Ok(names)
    }

    /// `wit_world/_registry.py`: the Python objects lined up with the
    /// metadata tables.
    fn registry(&self) -> Result<(String, String)> {
        let metadata = self.metadata;
        let mut file = PyFile::new(Module::file(self.package, "_registry"));
        let mut body = String::new();

        body.push_str("RECORDS: List[Tuple[type, Tuple[str, ...]]] = [\n");
        for record in &metadata.records {
            let TypeDefKind::Record(def) = &self.resolve.types[record.id].kind else {
                bail!("metadata record `{}` is not a WIT record", record.name);
            };
            let fields = def.fields.iter().map(|f| format!("{:?}", field_name(&f.name)));
            let fields = python_tuple(fields.collect());
            let class = self.type_ref(record.id, &mut file)?;
            writeln!(body, "    ({class}, {fields}),")?;
        }
        body.push_str("]\n\nFLAGS: List[type] = [\n");
        for flags in &metadata.flags {
            writeln!(body, "    {},", self.type_ref(flags.id, &mut file)?)?;
        }
        body.push_str("]\n\nENUMS: List[type] = [\n");
        for enum_ in &metadata.enums {
            writeln!(body, "    {},", self.type_ref(enum_.id, &mut file)?)?;
        }
        body.push_str("]\n\nVARIANTS: List[Tuple[type, ...]] = [\n");
        for variant in &metadata.variants {
            let TypeDefKind::Variant(def) = &self.resolve.types[variant.id].kind else {
                bail!("metadata variant `{}` is not a WIT variant", variant.name);
            };
            let union = self.type_ref(variant.id, &mut file)?;
            // `module.Shape` -> `module.ShapeCircle`, ...
            let cases = def.cases.iter().map(|case| variant_case_class(&union, &case.name));
            writeln!(body, "    {},", python_tuple(cases.collect()))?;
        }
        body.push_str("]\n\nRESOURCES: List[Any] = [\n");
        for resource in &metadata.resources {
            if resource.new_elem_index.is_none() {
                writeln!(body, "    {},", self.type_ref(resource.id, &mut file)?)?;
            } else {
                let interface = self
                    .exports
                    .iter()
                    .find(|e| Some(&e.key_name) == resource.interface.as_ref())
                    .with_context(|| {
                        format!("exported resource `{}` has no exported interface", resource.name)
                    })?;
                let class = self.type_name(resource.id)?;
                writeln!(body, "    ({:?}, {class:?}),", interface.module_name)?;
            }
        }
        body.push_str("]\n\nEXPORTS: List[Tuple[Any, ...]] = [\n");
        let exports = self.export_entries()?;
        for func in &metadata.export_funcs {
            let entry = exports
                .get(&(func.interface.clone(), func.name.clone()))
                .with_context(|| {
                    format!("exported function `{}` is not in the world", func.name)
                })?;
            match entry {
                ExportEntry::Function(class, method) => {
                    writeln!(body, "    ({class:?}, {method:?}),")?
                }
                ExportEntry::Resource(index, method, kind) => {
                    writeln!(body, "    ({index}, {method:?}, {kind:?}),")?
                }
            }
        }
        body.push_str("]\n");

        let mut contents = String::from(
            "\"\"\"\nThe Python objects behind the bindings library's type and export tables,\n\
             index-aligned with them. Used by the runtime.\n\"\"\"\n",
        );
        contents.push_str("from typing import Any, List, Optional, Tuple\n\n");
        contents.push_str("from .types import Some, Ok, Err\n");
        for line in &file.imports {
            writeln!(contents, "{line}")?;
        }
        contents.push('\n');
        contents.push_str(&body);
        Ok((file.module.file_path(), contents))
    }

    /// `(interface, WIT function name)` of every exported function -> what
    /// the runtime calls.
    fn export_entries(&self) -> Result<HashMap<FunctionKey, ExportEntry>> {
        let mut entries = HashMap::new();
        for item in self.resolve.worlds[self.world].exports.values() {
            if let WorldItem::Function(func) = item {
                let entry =
                    ExportEntry::Function("WitWorld".to_string(), function_name(func.item_name()));
                entries.insert((None, func.name.clone()), entry);
            }
        }
        for interface in &self.exports {
            let class = protocol_name(&interface.module_name);
            for func in self.resolve.interfaces[interface.id].functions.values() {
                let entry = match func.kind.resource() {
                    None => ExportEntry::Function(class.clone(), function_name(func.item_name())),
                    Some(resource) => {
                        let index = self.resource_index(resource, true)?;
                        let (name, kind) = match func.kind {
                            FunctionKind::Constructor(_) => ("__init__".to_string(), "constructor"),
                            FunctionKind::Static(_)
                            | FunctionKind::AsyncStatic(_)
                            | FunctionKind::StaticGetter(_)
                            | FunctionKind::StaticSetter(_) => {
                                (function_name(func.item_name()), "static")
                            }
                            _ => (function_name(func.item_name()), "method"),
                        };
                        ExportEntry::Resource(index, name, kind)
                    }
                };
                entries.insert((Some(interface.key_name.clone()), func.name.clone()), entry);
            }
        }
        Ok(entries)
    }
}

/// What the runtime calls for an exported function (an `EXPORTS` entry).
enum ExportEntry {
    /// `(class in the app module, method)`.
    Function(String, String),
    /// `(index in RESOURCES, Python name, kind)`, kind being `constructor`,
    /// `method` or `static`.
    Resource(usize, String, &'static str),
}

/// A function's Python signature.
struct Signature {
    /// `name: annotation` per parameter.
    params: Vec<String>,
    /// The parameter names.
    args: Vec<String>,
    returns: String,
    /// The WIT docs, plus a `Raises:` line for a top-level `result`.
    docs: Option<String>,
}

/// One Python module being written: its body and the imports it needs.
struct PyFile {
    module: Module,
    /// Package-internal import statements (sorted, deduplicated).
    imports: BTreeSet<String>,
    body: String,
    /// Whether the body calls `componentize_py_runtime`.
    uses_runtime: bool,
}

impl PyFile {
    fn new(module: Module) -> Self {
        PyFile { module, imports: BTreeSet::new(), body: String::new(), uses_runtime: false }
    }

    /// Import module `target` under `alias` (`from ..imports import foo`).
    fn import_module(&mut self, target: &Module, alias: &str) {
        let line = match target.path.rsplit_once('.') {
            _ if target.path.is_empty() => format!("import {}", target.package),
            Some((parent, leaf)) => {
                let from = self.module.relative(parent);
                if leaf == alias {
                    format!("from {from} import {leaf}")
                } else {
                    format!("from {from} import {leaf} as {alias}")
                }
            }
            None => {
                let from = self.module.relative("");
                format!("from {from} import {} as {alias}", target.path)
            }
        };
        self.imports.insert(line);
    }

    /// Import `name` from module `target` as `local` (always with `as`, so
    /// that mypy treats it as re-exported).
    fn import_name(&mut self, target: &Module, name: &str, local: &str) {
        let from = self.module.relative(&target.path);
        self.imports.insert(format!("from {from} import {name} as {local}"));
    }

    /// The module's path and contents, with `docs` as its docstring.
    fn finish(self, docs: Option<&str>) -> (String, String) {
        let mut contents = docstring(docs, 0);
        contents.push_str("from __future__ import annotations\n\n");
        contents.push_str(&standard_imports(&self.body));
        contents.push('\n');
        if self.uses_runtime {
            contents.push_str("import componentize_py_runtime as _rt\n");
        }
        let types = self.module.relative("types");
        contents.push_str(&format!("from {types} import Err, Ok, Result, Some\n"));
        for line in &self.imports {
            contents.push_str(line);
            contents.push('\n');
        }
        let body = self.body.trim_end();
        if !body.is_empty() {
            contents.push_str("\n\n");
            contents.push_str(body);
            contents.push('\n');
        }
        (self.module.file_path(), contents)
    }
}

/// The interfaces among `items`, each with its module name: the interface's
/// name in snake case or, when two share a name, qualified with the package
/// (`namespace_package_name`, plus the version if that still clashes).
///
/// `overrides` are `(interface key, module name)` pairs (upstream's
/// `--import-interface-name`/`--export-interface-name`), used verbatim;
/// `full_names` qualifies every interface of a package (upstream's
/// `--full-names`).
fn world_interfaces<'a>(
    resolve: &Resolve,
    items: impl Iterator<Item = (&'a WorldKey, &'a WorldItem)>,
    overrides: &[(String, String)],
    full_names: bool,
) -> Result<Vec<Interface>> {
    let mut found = Vec::new();
    for (key, item) in items {
        if let WorldItem::Interface { id, .. } = item {
            let short = match key {
                WorldKey::Name(name) => name.clone(),
                WorldKey::Interface(id) => resolve.interfaces[*id]
                    .name
                    .clone()
                    .context("an interface without a name is used by its id")?,
            };
            found.push((key.clone(), *id, short));
        }
    }

    // Qualify a name as far as needed to make it unique.
    let qualified = |key: &WorldKey, short: &str, with_version: bool| -> String {
        let WorldKey::Interface(id) = key else { return short.to_string() };
        let Some(package) = resolve.interfaces[*id].package else { return short.to_string() };
        let package = &resolve.packages[package].name;
        let mut name = format!("{}-{}-{short}", package.namespace, package.name);
        if let (true, Some(version)) = (with_version, &package.version) {
            name = format!("{name}-{version}");
        }
        name
    };
    let count = |names: &[String], name: &String| names.iter().filter(|n| *n == name).count();
    let shorts: Vec<String> = found.iter().map(|(_, _, short)| short.clone()).collect();
    let packaged: Vec<String> = found.iter().map(|(k, _, s)| qualified(k, s, false)).collect();

    let keys: Vec<String> = found.iter().map(|(key, _, _)| resolve.name_world_key(key)).collect();
    for (wanted, module) in overrides {
        if !keys.contains(wanted) {
            let known = if keys.is_empty() { "none".to_string() } else { keys.join(", ") };
            bail!("no interface `{wanted}` to name `{module}`; the world's are: {known}");
        }
        check_identifier(module, &format!("the module name for `{wanted}`"))?;
    }

    let mut interfaces = Vec::new();
    for (index, (key, id, short)) in found.iter().enumerate() {
        let key_name = resolve.name_world_key(key);
        let overridden = overrides.iter().rev().find(|(k, _)| *k == key_name);
        let module_name = if let Some((_, module)) = overridden {
            module.clone()
        } else {
            let name = if !full_names && count(&shorts, short) == 1 {
                short.clone()
            } else if count(&packaged, &packaged[index]) == 1 {
                packaged[index].clone()
            } else {
                qualified(key, short, true)
            };
            escape_keyword(name.to_snake_case())
        };
        interfaces.push(Interface { id: *id, key_name, module_name });
    }
    let mut seen = BTreeSet::new();
    for interface in &interfaces {
        if !seen.insert(&interface.module_name) {
            bail!(
                "two interfaces map to the same Python module `{}`",
                interface.module_name
            );
        }
    }
    Ok(interfaces)
}

/// Whether `name` has the form of a Python identifier (keywords included):
/// a letter or `_`, then letters, digits and `_`.
pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
}

/// Fail unless `name` is a Python identifier that is not a keyword.
fn check_identifier(name: &str, what: &str) -> Result<()> {
    if !is_identifier(name) || KEYWORDS.contains(&name) {
        bail!("{what}: `{name}` is not a Python identifier");
    }
    Ok(())
}

/// Whether `ty` is an `option` (through aliases).
fn is_option(resolve: &Resolve, ty: Type) -> bool {
    match ty {
        Type::Id(id) => match &resolve.types[id].kind {
            TypeDefKind::Option(_) => true,
            TypeDefKind::Type(inner) => is_option(resolve, *inner),
            _ => false,
        },
        _ => false,
    }
}

/// `name` with a `_` appended if it is a Python keyword.
fn escape_keyword(name: String) -> String {
    if KEYWORDS.contains(&name.as_str()) { format!("{name}_") } else { name }
}

/// A module-level name: escaped for keywords and for the names every
/// generated module uses itself.
fn module_level_name(name: String) -> String {
    if KEYWORDS.contains(&name.as_str()) || RESERVED.contains(&name.as_str()) {
        format!("{name}_")
    } else {
        name
    }
}

/// Python name of a method or exported function.
fn function_name(wit_name: &str) -> String {
    escape_keyword(wit_name.to_snake_case())
}

/// Python name of a parameter (`self` is taken by methods).
fn param_name(wit_name: &str) -> String {
    let name = escape_keyword(wit_name.to_snake_case());
    if name == "self" { "self_".into() } else { name }
}

/// Python name of a record field.
fn field_name(wit_name: &str) -> String {
    escape_keyword(wit_name.to_snake_case())
}

/// Python name of an enum or flags member (`read-only` -> `READ_ONLY`).
fn member_name(wit_name: &str) -> String {
    escape_keyword(wit_name.to_shouty_snake_case())
}

/// The class of a variant case: `<Variant><Case>` (`ShapeCircle`); `variant`
/// may be module-qualified.
fn variant_case_class(variant: &str, case: &str) -> String {
    let variant = variant.strip_suffix('_').unwrap_or(variant);
    format!("{variant}{}", case.to_upper_camel_case())
}

/// The Protocol class of an exported interface (`wasi:cli/run` -> `Run`).
fn protocol_name(module_name: &str) -> String {
    module_level_name(module_name.to_upper_camel_case())
}

/// A Python tuple expression of `items` (`()`, `(a,)`, `(a, b)`).
fn python_tuple(items: Vec<String>) -> String {
    match items.as_slice() {
        [single] => format!("({single},)"),
        _ => format!("({})", items.join(", ")),
    }
}

/// `text` as a docstring indented `indent` levels, or nothing without text.
fn docstring(text: Option<&str>, indent: usize) -> String {
    let Some(text) = text.map(str::trim_end).filter(|text| !text.trim().is_empty()) else {
        return String::new();
    };
    let pad = "    ".repeat(indent);
    let mut out = format!("{pad}\"\"\"\n");
    for line in text.lines() {
        let line = line.replace('\\', "\\\\").replace("\"\"\"", "\\\"\\\"\\\"");
        if line.trim().is_empty() {
            out.push('\n');
        } else {
            out.push_str(&format!("{pad}{line}\n"));
        }
    }
    out.push_str(&format!("{pad}\"\"\"\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// A stand-in for the runtime's builtin module: records the calls.
    const RUNTIME_STUB: &str = "\
calls = []
results = {}
drops = []

def call_import(index, args):
    calls.append((index, args))
    return results.pop(index, None)

def resource_drop(index, obj):
    handle = obj._wit_handle
    if handle is not None:
        obj._wit_handle = None
        drops.append((index, handle))
";

    /// Prints the registry one line per entry (checked against the metadata).
    const DESCRIBE_REGISTRY: &str = r#"
import wit_world._registry as r
for cls, fields in r.RECORDS:
    print("record", cls.__name__, ",".join(fields))
for cls in r.FLAGS:
    print("flags", cls.__name__, ",".join(f"{m.name}={m.value}" for m in cls))
for cls in r.ENUMS:
    print("enum", cls.__name__, ",".join(f"{m.name}={m.value}" for m in cls))
for cases in r.VARIANTS:
    print("variant", ",".join(c.__name__ for c in cases))
for entry in r.RESOURCES:
    print("resource", entry if isinstance(entry, tuple) else entry.__name__)
for entry in r.EXPORTS:
    print("export", entry)
"#;

    /// Generated bindings written to a temporary directory.
    struct Generated {
        dir: tempfile::TempDir,
        files: Vec<(String, String)>,
        /// The output of [`DESCRIBE_REGISTRY`].
        registry: String,
        metadata: wit_dylib::Metadata,
    }

    impl Generated {
        fn file(&self, path: &str) -> &str {
            let found = self.files.iter().find(|(p, _)| p == path);
            &found.unwrap_or_else(|| panic!("no file {path}\n{}", self.dump())).1
        }

        /// Run `script` with the bindings and the runtime stub importable.
        fn python(&self, script: &str) -> String {
            let output = Command::new("python3")
                .arg("-c")
                .arg(script)
                .env("PYTHONPATH", self.dir.path())
                .env("PYTHONDONTWRITEBYTECODE", "1")
                .output()
                .expect("run python3");
            assert!(
                output.status.success(),
                "python failed:\n{}\n{}",
                String::from_utf8_lossy(&output.stderr),
                self.dump()
            );
            String::from_utf8(output.stdout).unwrap()
        }

        /// The registry's `export` lines.
        fn exports(&self) -> Vec<&str> {
            self.registry.lines().filter_map(|l| l.strip_prefix("export ")).collect()
        }

        fn dump(&self) -> String {
            self.files.iter().map(|(p, c)| format!("==== {p}\n{c}")).collect()
        }
    }

    /// Parse `wit`, make the bindings library's metadata for `world`,
    /// generate, write the files, check that each compiles, that every
    /// module imports, and that the registry matches the metadata.
    fn generate_and_check(wit: &str, world: &str) -> Generated {
        let mut resolve = Resolve::new();
        let package = resolve.push_str("test.wit", wit).expect("parse WIT");
        let world = resolve.select_world(&[package], Some(world)).expect("select world");
        let (_, metadata) =
            wit_dylib::create_with_metadata(&resolve, world, None).expect("wit-dylib");
        let files = generate(&resolve, world, &metadata).expect("generate");

        let paths: Vec<&String> = files.iter().map(|(p, _)| p).collect();
        let mut sorted = paths.clone();
        sorted.sort();
        assert_eq!(paths, sorted, "files are sorted by path");
        let again = generate(&resolve, world, &metadata).expect("generate again");
        assert_eq!(files, again, "output is deterministic");

        let dir = tempfile::tempdir().unwrap();
        for (path, contents) in &files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, contents).unwrap();
        }
        std::fs::write(dir.path().join("componentize_py_runtime.py"), RUNTIME_STUB).unwrap();
        let mut generated = Generated { dir, files, registry: String::new(), metadata };

        for (path, _) in &generated.files {
            let output = Command::new("python3")
                .args(["-m", "py_compile"])
                .arg(generated.dir.path().join(path))
                .env("PYTHONDONTWRITEBYTECODE", "1")
                .output()
                .expect("run python3");
            assert!(
                output.status.success(),
                "{path} does not compile:\n{}\n{}",
                String::from_utf8_lossy(&output.stderr),
                generated.dump()
            );
        }

        // `_registry` first and alone: it must not depend on import order.
        generated.registry = generated.python(DESCRIBE_REGISTRY);
        let all_modules = generated
            .files
            .iter()
            .map(|(p, _)| {
                let module = p.trim_end_matches(".py").trim_end_matches("/__init__");
                format!("import {}\n", module.replace('/', "."))
            })
            .collect::<String>();
        generated.python(&all_modules);

        let registry = generated.registry.lines().filter(|l| !l.starts_with("export "));
        let expected = expected_registry(&generated.metadata);
        assert_eq!(registry.collect::<Vec<_>>(), expected, "{}", generated.dump());
        assert_eq!(generated.exports().len(), generated.metadata.export_funcs.len());
        generated
    }

    /// The registry lines (all but exports) the metadata calls for.
    fn expected_registry(metadata: &wit_dylib::Metadata) -> Vec<String> {
        let class = |name: &str| module_level_name(name.to_upper_camel_case());
        let mut out = Vec::new();
        for r in &metadata.records {
            let fields: Vec<String> = r.fields.iter().map(|(n, _)| field_name(n)).collect();
            out.push(format!("record {} {}", class(&r.name), fields.join(",")));
        }
        for f in &metadata.flags {
            let members: Vec<String> = (f.names.iter().enumerate())
                .map(|(i, n)| format!("{}={}", member_name(n), 1u64 << i))
                .collect();
            out.push(format!("flags {} {}", class(&f.name), members.join(",")));
        }
        for e in &metadata.enums {
            let members: Vec<String> = (e.names.iter().enumerate())
                .map(|(i, n)| format!("{}={i}", member_name(n)))
                .collect();
            out.push(format!("enum {} {}", class(&e.name), members.join(",")));
        }
        for v in &metadata.variants {
            let cases: Vec<String> =
                v.cases.iter().map(|(c, _)| variant_case_class(&class(&v.name), c)).collect();
            out.push(format!("variant {}", cases.join(",")));
        }
        for r in &metadata.resources {
            let class = class(&r.name);
            match r.new_elem_index {
                None => out.push(format!("resource {class}")),
                Some(_) => {
                    let interface = r.interface.as_deref().unwrap();
                    let leaf = interface.rsplit('/').next().unwrap();
                    let leaf = leaf.split('@').next().unwrap().to_snake_case();
                    out.push(format!("resource ('{leaf}', '{class}')"));
                }
            }
        }
        out
    }

    #[test]
    fn bindings_hello() {
        let generated = generate_and_check(
            "package test:hello;
            world hello {
                export hello: func(name: string) -> string;
            }",
            "hello",
        );
        assert_eq!(generated.exports(), ["('WitWorld', 'hello')"]);
        let init = generated.file("wit_world/__init__.py");
        assert!(init.contains("class WitWorld(Protocol):"), "{init}");
        assert!(init.contains("def hello(self, name: str) -> str:"), "{init}");
        let paths: Vec<&str> = generated.files.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "wit_world/__init__.py",
                "wit_world/_registry.py",
                "wit_world/exports/__init__.py",
                "wit_world/imports/__init__.py",
                "wit_world/types.py",
            ]
        );
    }

    const BIG: &str = r#"
package test:big@1.0.0;

/// Shared types.
interface shapes {
    /// A point.
    record point {
        /// Horizontal.
        x: s32,
        y: s32,
    }
    /// Colors.
    enum color {
        red,
        green,
        /// The sky's.
        light-blue,
    }
    /// Permissions.
    flags perms {
        /// May read.
        read,
        write,
        exec,
    }
    /// A shape.
    variant shape {
        /// A circle: its radius.
        circle(f64),
        rect(tuple<u32, u32>),
        none,
    }
    /// Raw bytes.
    type raw = list<u8>;
    record unit-like { x: bool }
    /// A blob of bytes.
    resource blob {
        /// A blob holding `init`.
        constructor(init: list<u8>);
        /// Append `bytes`.
        write: func(bytes: list<u8>);
        read: func(n: u32) -> list<u8>;
        merge: static func(lhs: blob, rhs: borrow<blob>) -> blob;
    }
}

/// The API.
interface api {
    use shapes.{point, color, perms, shape as figure, blob, raw};
    enum error-code { not-found, denied }
    record everything {
        p: point,
        c: color,
        perms: perms,
        s: figure,
        maybe: option<u32>,
        nested: option<option<string>>,
        res: result<u32, string>,
        unit-res: result,
        tup: tuple<u8, string, char>,
        nums: list<u32>,
        raw: list<u8>,
        raw2: raw,
        class: string,
        lambda: list<list<point>>,
    }
    /// Look up `key`.
    get: func(key: string) -> option<string>;
    /// May fail.
    try-get: func(key: string) -> result<string, error-code>;
    nothing: func() -> result;
    move-point: func(p: point, dx: s32) -> point;
    consume: func(b: blob) -> tuple<blob, u32>;
    yield: func(in: u32, pass: bool);
    str: func() -> string;
}

/// Handles requests.
interface handler {
    use shapes.{point};
    use api.{everything};
    record request { everything: everything, at: point }
    /// Handle one request.
    handle: func(r: request) -> result<list<u8>>;
    check: func() -> result<_, string>;
}

/// The big world.
world big {
    import api;
    use shapes.{point};
    record world-rec { a: u32, p: point }
    /// A or B.
    variant world-var { a, b(world-rec) }
    /// Log `msg`.
    import log: func(msg: string, level: u8);
    /// Run at `p`.
    export run: func(p: point) -> result<world-rec, string>;
    export handler;
    export inline: interface {
        greet: func(name: string) -> string;
    }
}
"#;

    #[test]
    fn bindings_big_world() {
        let generated = generate_and_check(BIG, "big");
        assert_eq!(
            generated.exports(),
            [
                "('WitWorld', 'run')",
                "('Handler', 'handle')",
                "('Handler', 'check')",
                "('Inline', 'greet')",
            ]
        );
        let api = generated.file("wit_world/imports/api.py");
        for expected in [
            "from .shapes import Point as Point",
            "from .shapes import Shape as Figure",
            "nested: Optional[Some[Optional[str]]]",
            "res: Result[int, str]",
            "unit_res: Result[None, None]",
            "tup: Tuple[int, str, str]",
            "raw: bytes",
            "class_: str",
            "lambda_: List[List[Point]]",
            "def try_get(key: str) -> str:",
            "Raises: `wit_world.types.Err(ErrorCode)`",
            "def nothing() -> None:",
            "def yield_(in_: int, pass_: bool) -> None:",
            "def str_() -> str:",
            "DENIED = 1",
        ] {
            assert!(api.contains(expected), "missing {expected:?}:\n{api}");
        }
        let exports = generated.file("wit_world/exports/__init__.py");
        assert!(exports.contains("class Handler(Protocol):"), "{exports}");
        assert!(exports.contains("def handle(self, r: handler.Request) -> bytes:"), "{exports}");
        assert!(exports.contains("class Inline(Protocol):"), "{exports}");

        // Behaviour: values, calls through the runtime stub, resources.
        let index = |interface: Option<&str>, name: &str| {
            let funcs = &generated.metadata.import_funcs;
            let found = funcs.iter().position(|f| {
                f.interface.as_deref() == interface && f.name == name
            });
            found.unwrap_or_else(|| panic!("no import {name}"))
        };
        let shapes = Some("test:big/shapes@1.0.0");
        let (blob_new, blob_write, blob_merge) = (
            index(shapes, "[constructor]blob"),
            index(shapes, "[method]blob.write"),
            index(shapes, "[static]blob.merge"),
        );
        let out = generated.python(
            &r#"
import componentize_py_runtime as rt
from wit_world import WitWorld, WorldVarB, WorldRec, log
from wit_world.imports import api, shapes
from wit_world.types import Some, Ok, Err
assert issubclass(Err, Exception)
p = shapes.Point(x=1, y=2)
assert api.Point is shapes.Point
assert shapes.ShapeCircle(1.5).value == 1.5 and shapes.ShapeNone() == shapes.ShapeNone()
assert shapes.Perms.READ | shapes.Perms.EXEC == shapes.Perms(5)
assert shapes.Color.LIGHT_BLUE.value == 2
log("hi", 3)
api.get("k")
api.move_point(p, 4)
print(rt.calls)
made = shapes.Blob.__new__(shapes.Blob)
made._wit_handle = 7
rt.results[BLOB_NEW] = made
blob = shapes.Blob(b"x")
with blob as b:
    assert b is blob and made._wit_handle is None
    b.write(b"y")
    rt.results[BLOB_MERGE] = "merged"
    assert shapes.Blob.merge(b, b) == "merged"
blob.__del__()
shown = lambda a: type(a).__name__ if isinstance(a, shapes.Blob) else a
print([(i, tuple(map(shown, args))) for i, args in rt.calls[3:]], rt.drops, blob._wit_handle)
print(WorldVarB(WorldRec(1, p)))
import inspect
print(inspect.getdoc(api.try_get).splitlines())
"#
            .replace("BLOB_NEW", &blob_new.to_string())
            .replace("BLOB_MERGE", &blob_merge.to_string()),
        );
        let lines: Vec<&str> = out.lines().collect();
        let api = Some("test:big/api@1.0.0");
        let (log, get, move_point) =
            (index(None, "log"), index(api, "get"), index(api, "move-point"));
        let calls = format!(
            "[({log}, ('hi', 3)), ({get}, ('k',)), ({move_point}, (Point(x=1, y=2), 4))]"
        );
        assert_eq!(lines[0], calls);
        let blob_index = generated
            .metadata
            .resources
            .iter()
            .position(|r| r.name == "blob")
            .unwrap();
        assert_eq!(
            lines[1],
            format!(
                "[({blob_new}, (b'x',)), ({blob_write}, ('Blob', b'y')), \
                 ({blob_merge}, ('Blob', 'Blob'))] [({blob_index}, 7)] None"
            )
        );
        assert_eq!(lines[2], "WorldVarB(value=WorldRec(a=1, p=Point(x=1, y=2)))");
        assert_eq!(lines[3], "['May fail.', '', 'Raises: `wit_world.types.Err(ErrorCode)`']");
    }

    /// Lists every docstring of the generated package, one `key=doc` line
    /// each (newlines as `\n`): module docstrings as `path:`, classes and
    /// functions as `path:Class.name`, and attribute docstrings (a string
    /// right after an assignment: fields, members, type aliases) likewise.
    const LIST_DOCSTRINGS: &str = r#"
import ast, inspect, os, pathlib
root = pathlib.Path(os.environ["PYTHONPATH"])
def walk(body, prefix, path):
    for i, node in enumerate(body):
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            name = prefix + node.name
            doc = ast.get_docstring(node)
            if doc is not None:
                print(f"{path}:{name}=" + doc.replace("\n", "\\n"))
            if isinstance(node, ast.ClassDef):
                walk(node.body, name + ".", path)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            after = body[i + 1] if i + 1 < len(body) else None
            if (isinstance(target, ast.Name) and isinstance(after, ast.Expr)
                    and isinstance(after.value, ast.Constant)
                    and isinstance(after.value.value, str)):
                doc = inspect.cleandoc(after.value.value)
                print(f"{path}:{prefix}{target.id}=" + doc.replace("\n", "\\n"))
for file in sorted(root.rglob("*.py")):
    path = file.relative_to(root).as_posix()
    tree = ast.parse(file.read_text())
    doc = ast.get_docstring(tree)
    if doc is not None:
        print(f"{path}:=" + doc.replace("\n", "\\n"))
    walk(tree.body, "", path)
"#;

    #[test]
    fn wit_docs_become_docstrings() {
        let generated = generate_and_check(BIG, "big");
        let listed = generated.python(LIST_DOCSTRINGS);
        let docs: HashMap<&str, &str> =
            listed.lines().filter_map(|line| line.split_once('=')).collect();
        let expected = [
            // Interfaces and the world: module (and Protocol) docstrings.
            ("wit_world/__init__.py:", "The big world."),
            ("wit_world/imports/shapes.py:", "Shared types."),
            ("wit_world/imports/api.py:", "The API."),
            ("wit_world/exports/handler.py:", "Handles requests."),
            ("wit_world/exports/__init__.py:Handler", "Handles requests."),
            // Functions: imported, exported, world-level, resource methods.
            ("wit_world/imports/api.py:get", "Look up `key`."),
            ("wit_world/__init__.py:log", "Log `msg`."),
            (
                "wit_world/__init__.py:WitWorld.run",
                "Run at `p`.\\n\\nRaises: `wit_world.types.Err(str)`",
            ),
            (
                "wit_world/exports/__init__.py:Handler.handle",
                "Handle one request.\\n\\nRaises: `wit_world.types.Err(None)`",
            ),
            ("wit_world/imports/shapes.py:Blob", "A blob of bytes."),
            ("wit_world/imports/shapes.py:Blob.__init__", "A blob holding `init`."),
            ("wit_world/imports/shapes.py:Blob.write", "Append `bytes`."),
            // Types, fields, cases, members, aliases.
            ("wit_world/imports/shapes.py:Point", "A point."),
            ("wit_world/imports/shapes.py:Point.x", "Horizontal."),
            ("wit_world/imports/shapes.py:Color", "Colors."),
            ("wit_world/imports/shapes.py:Color.LIGHT_BLUE", "The sky's."),
            ("wit_world/imports/shapes.py:Perms", "Permissions."),
            ("wit_world/imports/shapes.py:Perms.READ", "May read."),
            ("wit_world/imports/shapes.py:Shape", "A shape."),
            ("wit_world/imports/shapes.py:ShapeCircle", "A circle: its radius."),
            ("wit_world/imports/shapes.py:Raw", "Raw bytes."),
            ("wit_world/__init__.py:WorldVar", "A or B."),
        ];
        let mut missing = Vec::new();
        for (key, doc) in expected {
            if docs.get(key) != Some(&doc) {
                missing.push(format!("{key}: expected {doc:?}, found {:?}", docs.get(key)));
            }
        }
        assert!(missing.is_empty(), "{}\n\nall docstrings:\n{listed}", missing.join("\n"));
        // Undocumented items get none.
        for key in ["wit_world/imports/shapes.py:Point.y", "wit_world/imports/shapes.py:Perms.WRITE"]
        {
            assert!(!docs.contains_key(key), "{key} has a docstring:\n{listed}");
        }
    }

    /// The shape "an import takes `borrow<r>` of a resource the world
    /// exports" does not exist: imports cannot name an export's types, so
    /// wit-parser imports the exported interface as well and the import
    /// takes that imported twin (a different resource, with its own class).
    #[test]
    fn import_using_an_exported_resource_gets_the_imported_twin() {
        let generated = generate_and_check(
            "package test:shape;
            interface api { resource blob { constructor(); } }
            interface host { use api.{blob}; look: func(b: borrow<blob>) -> u32; }
            world w { import host; export api; }",
            "w",
        );
        let metadata = &generated.metadata;
        let look = metadata.import_funcs.iter().find(|f| f.name == "look").expect("look");
        let wit_dylib::metadata::Type::Borrow(index) = look.args[0] else {
            panic!("`look` does not take a borrow");
        };
        let resource = &metadata.resources[index];
        assert_eq!(resource.interface.as_deref(), Some("test:shape/api"));
        assert!(resource.new_elem_index.is_none(), "`look` takes the exported blob");
        assert!(metadata.resources.iter().any(|r| r.new_elem_index.is_some()));
        assert!(generated.registry.contains("resource Blob\nresource ('api', 'Blob')"));
        let host = generated.file("wit_world/imports/host.py");
        assert!(host.contains("from .api import Blob as Blob"), "{host}");
        assert!(host.contains("def look(b: Blob) -> int:"), "{host}");
        let out = generated.python(
            "from wit_world.imports.api import Blob as Imported\n\
             from wit_world.exports.api import Blob as Exported\n\
             print(Imported is Exported)",
        );
        assert_eq!(out.trim(), "False");
    }

    #[test]
    fn bindings_name_collisions_and_shared_interfaces() {
        let generated = generate_and_check(
            r#"
package test:main;

package wasi:foo {
    interface types {
        record a { x: u32 }
        get: func() -> a;
    }
}

package other:bar {
    interface types {
        variant b { x(u32), y }
        put: func(b: b);
    }
    interface both {
        enum mode { on, off }
        resource counter {
            constructor();
            bump: func(by: u32) -> u32;
        }
        toggle: func(m: mode) -> mode;
    }
}

world w {
    import wasi:foo/types;
    import other:bar/types;
    import other:bar/both;
    export other:bar/both;
}
"#,
            "w",
        );
        generated.file("wit_world/imports/wasi_foo_types.py");
        generated.file("wit_world/imports/other_bar_types.py");
        generated.file("wit_world/exports/both.py");
        // Resource functions name the exported resource (index 1: the
        // imported `counter` comes first).
        assert_eq!(
            generated.exports(),
            ["(1, '__init__', 'constructor')", "(1, 'bump', 'method')", "('Both', 'toggle')"]
        );
        assert!(generated.registry.contains("resource Counter\nresource ('both', 'Counter')"));
        // Shared types are the imported interface's; the resource has a
        // flavour per direction.
        let out = generated.python(
            "from wit_world.exports.both import Mode, Counter\n\
             from wit_world.imports.both import Mode as M, Counter as C\n\
             from typing import Protocol\n\
             print(Mode is M, Counter is C, issubclass(Counter, Protocol), C._wit_handle)",
        );
        assert_eq!(out.trim(), "True False True None");
        let exports = generated.file("wit_world/exports/both.py");
        assert!(exports.contains("class Counter(Protocol):"), "{exports}");
        assert!(exports.contains("    @abstractmethod\n    def bump(self, by: int) -> int:"), "{exports}");
    }
}
