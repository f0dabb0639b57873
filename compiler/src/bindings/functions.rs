//! Functions: Python signatures, imported functions calling the runtime,
//! and the `Protocol` classes of exports.

use std::fmt::Write as _;

use anyhow::{Context, Result};
use heck::ToSnakeCase;
use wit_parser::{Function, Type, TypeDefKind};

use super::naming::{function_name, module_level_name, param_name};
use super::pyfile::{docstring, python_tuple, PyFile};
use super::Generator;

impl<'a> Generator<'a> {

    /// The Python signature of `func`, leaving out its first `skip` parameters.
    pub(super) fn signature(&self, func: &Function, skip: usize, file: &mut PyFile) -> Result<Signature> {
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
            raises.map(|err| format!("Raises: `{}.Err({err})`", super::TYPES_MODULE));
        let docs = match (func.docs.contents.as_deref(), raises_doc) {
            (Some(docs), Some(raises)) => Some(format!("{}\n\n{raises}", docs.trim_end())),
            (docs, raises) => raises.or(docs.map(str::to_string)),
        };
        Ok(Signature { params, args, returns, docs })
    }

    /// Define the imported freestanding function `func` of `interface` (None
    /// for the world) in `file`, calling the runtime by metadata index.
    pub(super) fn define_import_function(
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
        let async_ = if func.kind.is_async() { "async " } else { "" };
        writeln!(body, "{async_}def {name}({}) -> {}:", signature.params.join(", "), signature.returns)?;
        body.push_str(&docstring(signature.docs.as_deref(), 1));
        let call = self.import_call(func, index, &args, file);
        let body = &mut file.body;
        if signature.returns == "None" {
            writeln!(body, "    {call}")?;
        } else {
            writeln!(body, "    result: {} = {call}", signature.returns)?;
            writeln!(body, "    return result")?;
        }
        body.push_str("\n\n");
        Ok(())
    }

    /// The Python expression calling imported function `func` (metadata
    /// index `index`) with the tuple expression `args`: `_rt.call_import`,
    /// or for an `async` function an awaited `_async.call_import` (which
    /// unwraps a top-level `result` itself, as `_rt.call_import` does in C).
    pub(super) fn import_call(&self, func: &Function, index: usize, args: &str, file: &mut PyFile) -> String {
        file.uses_runtime = true;
        if func.kind.is_async() {
            file.uses_async = true;
            let unwrap = match func.result {
                Some(Type::Id(id)) => matches!(self.resolve.types[id].kind, TypeDefKind::Result(_)),
                _ => false,
            };
            let unwrap = if unwrap { "True" } else { "False" };
            format!("await _async.call_import({index}, {args}, {unwrap})")
        } else {
            format!("_rt.call_import({index}, {args})")
        }
    }

    /// Define `class <name>(Protocol)` with an abstract method per function.
    pub(super) fn define_protocol<'f>(
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
                "\n    @abstractmethod\n    {}def {}({params}) -> {}:\n",
                if func.kind.is_async() { "async " } else { "" },
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
}

/// A function's Python signature.
pub(super) struct Signature {
    /// `name: annotation` per parameter.
    pub(super) params: Vec<String>,
    /// The parameter names.
    pub(super) args: Vec<String>,
    pub(super) returns: String,
    /// The WIT docs, plus a `Raises:` line for a top-level `result`.
    pub(super) docs: Option<String>,
}
