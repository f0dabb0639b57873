//! Where each named type lives and how a WIT type is spelled as a Python
//! annotation from a given module (importing what it names).

use anyhow::{bail, Context, Result};
use heck::ToUpperCamelCase;
use wit_parser::{Handle, Resolve, Type, TypeDefKind, TypeId, TypeOwner};

use super::naming::module_level_name;
use super::pyfile::{Module, PyFile};
use super::Generator;

impl<'a> Generator<'a> {

    /// The module defining the types owned by `owner`.
    pub(super) fn home_of(&self, owner: TypeOwner) -> Result<Module> {
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
    pub(super) fn resource_home(&self, id: TypeId, from: &Module) -> Result<Module> {
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
    pub(super) fn type_name(&self, id: TypeId) -> Result<String> {
        let name = self.resolve.types[id]
            .name
            .as_deref()
            .context("an anonymous type has no Python name")?;
        Ok(module_level_name(name.to_upper_camel_case()))
    }

    /// A reference to the named type `id` from `file`, through the module
    /// defining it when that is another one (`host.Counter`, binding `host`
    /// there, as upstream). A type that is another named type (`use
    /// host.{counter}`) is spelled as the one it names.
    pub(super) fn type_ref(&self, id: TypeId, file: &mut PyFile) -> Result<String> {
        let id = self.definition(id);
        if file.self_resource == Some(id) {
            return Ok("Self".into());
        }
        let name = self.type_name(id)?;
        let home = self.resource_home(id, &file.module)?;
        if home == file.module {
            return Ok(name);
        }
        Ok(format!("{}.{name}", file.module_ref(&home)))
    }

    /// The named type that `id` ends at through aliases of named types
    /// (`use other.{point}` is `other`'s `point`).
    pub(super) fn definition(&self, mut id: TypeId) -> TypeId {
        while let TypeDefKind::Type(Type::Id(target)) = self.resolve.types[id].kind {
            if self.resolve.types[target].name.is_none() {
                break;
            }
            id = target;
        }
        id
    }

    /// The Python annotation of a WIT type, as seen from `file`.
    pub(super) fn annotation(&self, ty: Type, file: &mut PyFile) -> Result<String> {
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
    pub(super) fn structural_annotation(&self, id: TypeId, file: &mut PyFile) -> Result<String> {
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
            // Readers of `componentize_py_async_support` (upstream's names).
            TypeDefKind::Stream(Some(Type::U8 | Type::S8)) => {
                file.uses_streams = true;
                "ByteStreamReader".into()
            }
            TypeDefKind::Stream(payload) => {
                file.uses_streams = true;
                format!("StreamReader[{}]", self.optional_annotation(*payload, file)?)
            }
            TypeDefKind::Future(payload) => {
                file.uses_streams = true;
                format!("FutureReader[{}]", self.optional_annotation(*payload, file)?)
            }
            TypeDefKind::Record(_)
            | TypeDefKind::Variant(_)
            | TypeDefKind::Enum(_)
            | TypeDefKind::Flags(_)
            | TypeDefKind::Resource => bail!("a {} type has no name", ty.kind.as_str()),
            TypeDefKind::Unknown => bail!("a type of unknown structure reached the bindings"),
        })
    }

    /// The annotation of an optional payload (`None` when absent).
    pub(super) fn optional_annotation(&self, ty: Option<Type>, file: &mut PyFile) -> Result<String> {
        match ty {
            Some(ty) => self.annotation(ty, file),
            None => Ok("None".into()),
        }
    }
}

/// Whether `ty` is an `option` (through aliases).
pub(super) fn is_option(resolve: &Resolve, ty: Type) -> bool {
    match ty {
        Type::Id(id) => match &resolve.types[id].kind {
            TypeDefKind::Option(_) => true,
            TypeDefKind::Type(inner) => is_option(resolve, *inner),
            _ => false,
        },
        _ => false,
    }
}
