//! Definitions of named WIT types: records, variants, enums, flags,
//! aliases and resources (both flavours: imported and exported).

use std::fmt::Write as _;

use anyhow::{Context, Result};
use wit_parser::{Function, FunctionKind, Type, TypeDefKind, TypeId, TypeOwner, WorldItem};

use super::naming::{function_name, member_name, field_name, variant_case_class};
use super::pyfile::{docstring, python_tuple, PyFile};
use super::Generator;

impl<'a> Generator<'a> {

    /// Define the named types `ids` (in WIT order) in `file`.
    pub(super) fn define_types(&self, ids: impl IntoIterator<Item = TypeId>, file: &mut PyFile) -> Result<()> {
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
    pub(super) fn define_type(&self, id: TypeId, file: &mut PyFile) -> Result<()> {
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
    pub(super) fn resource_functions(&self, id: TypeId) -> Vec<&'a Function> {
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
    pub(super) fn resource_index(&self, id: TypeId, exported: bool) -> Result<usize> {
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
    pub(super) fn define_resource(
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
                    ("    @classmethod\n", function_name(func.item_name()), 0)
                }
                _ => ("", function_name(func.item_name()), 1),
            };
            let is_constructor = matches!(func.kind, FunctionKind::Constructor(_));
            // The resource itself is `Self` in its own methods (upstream's
            // spelling).
            file.self_resource = Some(id);
            let signature = self.signature(func, receiver, file);
            file.self_resource = None;
            let signature = signature
                .with_context(|| format!("generating resource function `{}`", func.name))?;
            let mut params = signature.params.clone();
            let mut returns = signature.returns.clone();
            params.insert(0, if decorator.is_empty() { "self" } else { "cls" }.to_string());
            if is_constructor {
                returns = "None".to_string();
            }
            let params = params.join(", ");
            let abstract_ = if exported { "    @abstractmethod\n" } else { "" };
            let async_ = if func.kind.is_async() { "async " } else { "" };
            write!(body, "\n{decorator}{abstract_}    {async_}def {method}({params}) -> {returns}:\n")?;
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
            let call = self.import_call(func, import, &args, file);
            if is_constructor {
                writeln!(body, "        made: {name} = {call}")?;
                body.push_str(
                    "        self._wit_handle, made._wit_handle = made._wit_handle, None\n",
                );
            } else if signature.returns == "None" {
                writeln!(body, "        {call}")?;
            } else {
                writeln!(body, "        result: {} = {call}", signature.returns)?;
                body.push_str("        return result\n");
            }
        }
        if let Some(index) = index {
            write!(
                body,
                "\n    def __enter__(self) -> Self:\n        return self\n\n    \
                 def __exit__(self, exc_type: type[BaseException] | None, \
                 exc_value: BaseException | None, traceback: TracebackType | None) \
                 -> bool | None:\n        \
                 \"\"\"\n        Drop the handle now; the object can no longer be used.\n        \
                 \"\"\"\n        _rt.resource_drop({index}, self)\n        return None\n\n    \
                 def __del__(self) -> None:\n        _rt.resource_drop({index}, self)\n"
            )?;
            file.uses_runtime = true;
        }
        if !any && ty.docs.contents.is_none() {
            body.push_str("    pass\n");
        }
        Ok(())
    }
}
