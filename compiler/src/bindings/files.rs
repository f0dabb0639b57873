//! The files of the package: the world module, one module per imported
//! and exported interface, the exports package and the registry.

use std::collections::HashMap;
use std::fmt::Write as _;

use anyhow::{bail, Context, Result};
use wit_parser::{FunctionKind, TypeDefKind, TypeId, TypeOwner, WorldItem};

use super::naming::{field_name, function_name, protocol_name, variant_case_class};
use super::pyfile::{python_tuple, Module, PyFile};
use super::{FunctionKey, Generator, Interface};

impl<'a> Generator<'a> {

    /// `wit_world/__init__.py`: world-level types, imported functions and
    /// the protocol of the world-level exports (`WitWorld`).
    pub(super) fn world_module(&self) -> Result<(String, String)> {
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
        let docs = format!(
            "The world's exported functions: implement them in a class `{}`.",
            self.world_class
        );
        self.define_protocol(&self.world_class, Some(&docs), exports, &mut file)?;
        self.define_stream_constructors(&mut file).context("generating the stream and future constructors")?;
        Ok(file.finish(world.docs.contents.as_deref()))
    }

    /// `wit_world/imports/<iface>.py`: an imported interface's types and
    /// functions.
    pub(super) fn import_module(&self, interface: &Interface) -> Result<(String, String)> {
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
    pub(super) fn export_module(&self, interface: &Interface) -> Result<(String, String)> {
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
    pub(super) fn exports_package(&self) -> Result<(String, String)> {
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
    pub(super) fn class_names(&self, id: TypeId) -> Result<Vec<String>> {
        let name = self.type_name(id)?;
        let mut names = vec![name.clone()];
        if let TypeDefKind::Variant(variant) = &self.resolve.types[id].kind {
            names.extend(variant.cases.iter().map(|case| variant_case_class(&name, &case.name)));
        }
        Ok(names)
    }

    /// `wit_world/_registry.py`: the Python objects lined up with the
    /// metadata tables.
    pub(super) fn registry(&self) -> Result<(String, String)> {
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
        file.body = body;
        file.bind_module_refs();

        let mut contents = String::from(
            "\"\"\"\nThe Python objects behind the bindings library's type and export tables,\n\
             index-aligned with them. Used by the runtime.\n\"\"\"\n",
        );
        contents.push_str("from typing import Any, List, Optional, Tuple\n\n");
        writeln!(contents, "from {} import Some, Ok, Err", super::TYPES_MODULE)?;
        for line in &file.imports {
            writeln!(contents, "{line}")?;
        }
        contents.push('\n');
        contents.push_str(&file.body);
        Ok((file.module.file_path(), contents))
    }

    /// `(interface, WIT function name)` of every exported function -> what
    /// the runtime calls.
    pub(super) fn export_entries(&self) -> Result<HashMap<FunctionKey, ExportEntry>> {
        let mut entries = HashMap::new();
        for item in self.resolve.worlds[self.world].exports.values() {
            if let WorldItem::Function(func) = item {
                let entry = ExportEntry::Function(
                    self.world_class.clone(),
                    function_name(func.item_name()),
                );
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
pub(super) enum ExportEntry {
    /// `(class in the app module, method)`.
    Function(String, String),
    /// `(index in RESOURCES, Python name, kind)`, kind being `constructor`,
    /// `method` or `static`.
    Resource(usize, String, &'static str),
}
