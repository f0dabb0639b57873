//! The constructors of streams and futures (upstream's names and places):
//! in the world module, one function per payload type, returning a
//! `(writer, reader)` pair: `byte_stream()` for `stream<u8>` (and
//! `stream<s8>`), `<payload>_stream()` for any other stream and
//! `<payload>_future(default)` for futures, `<payload>` spelling the type
//! as upstream does (`string`, `list_u8`, `option_u32`, `<module>_<name>`
//! for a named type of an interface, `unit` for none).
//!
//! Each calls the runtime with the index of the stream or future type in
//! the bindings library's metadata (the first one of that payload: every
//! stream type of one payload takes the same handles).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use anyhow::{bail, Result};
use heck::ToSnakeCase;
use wit_parser::{Handle, Type, TypeDefKind, TypeOwner};

use super::naming::{escape_keyword, module_level_name};
use super::pyfile::PyFile;
use super::Generator;

impl<'a> Generator<'a> {
    /// Define the constructors of every stream and future type of the
    /// world in `file` (the world module); nothing without any.
    pub(super) fn define_stream_constructors(&self, file: &mut PyFile) -> Result<()> {
        let mut seen = BTreeSet::new();
        let has_u8_stream = self.metadata.streams.iter().any(|stream| {
            matches!(self.resolve.types[stream.id].kind, TypeDefKind::Stream(Some(Type::U8)))
        });
        for (index, stream) in self.metadata.streams.iter().enumerate() {
            let TypeDefKind::Stream(payload) = self.resolve.types[stream.id].kind else {
                bail!("metadata stream {index} is not a stream type");
            };
            let byte = matches!(payload, Some(Type::U8 | Type::S8));
            // `byte_stream()` is upstream's name for `stream<u8>` and for
            // `stream<s8>`; a world with both gets it for `stream<u8>`, and a
            // `stream<s8>` is always `s8_stream()` too, so that each can be
            // made (their handles are of different types).
            let names = match payload {
                Some(Type::U8) => vec!["byte_stream".to_string()],
                Some(Type::S8) if has_u8_stream => vec!["s8_stream".to_string()],
                Some(Type::S8) => vec!["byte_stream".to_string(), "s8_stream".to_string()],
                _ => vec![format!("{}_stream", self.mangle_optional(payload)?)],
            };
            for name in names {
                let name = module_level_name(name);
                if !seen.insert(name.clone()) {
                    continue;
                }
                let (writer, reader) = if byte {
                    ("ByteStreamWriter".to_string(), "ByteStreamReader".to_string())
                } else {
                    let payload = self.optional_annotation(payload, file)?;
                    (format!("StreamWriter[{payload}]"), format!("StreamReader[{payload}]"))
                };
                let wit = crate::wit::type_to_wit(self.resolve, Type::Id(stream.id));
                file.uses_streams = true;
                file.uses_runtime = true;
                let _ = write!(
                    file.body,
                    "def {name}() -> Tuple[{writer}, {reader}]:\n    \
                     \"\"\"A new `{wit}`: its writable and its readable end.\"\"\"\n    \
                     pair = _rt.stream_new({index})\n    \
                     return ({}({index}, pair >> 32), {}({index}, pair & 0xFFFFFFFF))\n\n\n",
                    class_of(&writer),
                    class_of(&reader),
                );
            }
        }
        for (index, future) in self.metadata.futures.iter().enumerate() {
            let TypeDefKind::Future(payload) = self.resolve.types[future.id].kind else {
                bail!("metadata future {index} is not a future type");
            };
            let name = module_level_name(format!("{}_future", self.mangle_optional(payload)?));
            if !seen.insert(name.clone()) {
                continue;
            }
            let annotation = self.optional_annotation(payload, file)?;
            let wit = crate::wit::type_to_wit(self.resolve, Type::Id(future.id));
            file.uses_streams = true;
            file.uses_runtime = true;
            let _ = write!(
                file.body,
                "def {name}(default: Callable[[], {annotation}]) -> \
                 Tuple[FutureWriter[{annotation}], FutureReader[{annotation}]]:\n    \
                 \"\"\"A new `{wit}`: its writable and its readable end; `default()`\n    \
                 is written if the writer is closed without a value.\"\"\"\n    \
                 pair = _rt.future_new({index})\n    \
                 return (FutureWriter({index}, pair >> 32, default), FutureReader({index}, pair & 0xFFFFFFFF))\n\n\n",
            );
        }
        Ok(())
    }

    fn mangle_optional(&self, ty: Option<Type>) -> Result<String> {
        match ty {
            Some(ty) => self.mangle(ty),
            None => Ok("unit".into()),
        }
    }

    /// Upstream's spelling of a payload type in a constructor's name.
    fn mangle(&self, ty: Type) -> Result<String> {
        Ok(match ty {
            Type::Bool => "bool".into(),
            Type::U8 => "u8".into(),
            Type::U16 => "u16".into(),
            Type::U32 => "u32".into(),
            Type::U64 => "u64".into(),
            Type::S8 => "s8".into(),
            Type::S16 => "s16".into(),
            Type::S32 => "s32".into(),
            Type::S64 => "s64".into(),
            Type::ErrorContext => "error_context".into(),
            Type::F32 => "f32".into(),
            Type::F64 => "f64".into(),
            Type::Char => "char".into(),
            Type::String => "string".into(),
            Type::Id(id) => {
                let def = &self.resolve.types[id];
                match &def.kind {
                    TypeDefKind::Record(_)
                    | TypeDefKind::Variant(_)
                    | TypeDefKind::Enum(_)
                    | TypeDefKind::Flags(_)
                    | TypeDefKind::Resource => {
                        let name = def.name.as_deref().unwrap_or("anon");
                        let name = escape_keyword(name.to_snake_case());
                        match def.owner {
                            TypeOwner::Interface(_) => {
                                let home = self.home_of(def.owner)?;
                                let leaf = home.path.rsplit('.').next().unwrap_or_default();
                                format!("{leaf}_{name}")
                            }
                            _ => name,
                        }
                    }
                    TypeDefKind::Option(inner) => format!("option_{}", self.mangle(*inner)?),
                    TypeDefKind::Result(result) => format!(
                        "result_{}_{}",
                        self.mangle_optional(result.ok)?,
                        self.mangle_optional(result.err)?
                    ),
                    TypeDefKind::List(inner) | TypeDefKind::FixedLengthList(inner, _) => {
                        format!("list_{}", self.mangle(*inner)?)
                    }
                    TypeDefKind::Map(key, value) => {
                        format!("map_{}_{}", self.mangle(*key)?, self.mangle(*value)?)
                    }
                    TypeDefKind::Tuple(tuple) => {
                        let types = tuple
                            .types
                            .iter()
                            .map(|ty| self.mangle(*ty))
                            .collect::<Result<Vec<_>>>()?;
                        format!("tuple{}_{}", tuple.types.len(), types.join("_"))
                    }
                    TypeDefKind::Handle(Handle::Own(resource) | Handle::Borrow(resource)) => {
                        self.mangle(Type::Id(*resource))?
                    }
                    TypeDefKind::Type(inner) => self.mangle(*inner)?,
                    TypeDefKind::Stream(inner) => format!("stream_{}", self.mangle_optional(*inner)?),
                    TypeDefKind::Future(inner) => format!("future_{}", self.mangle_optional(*inner)?),
                    TypeDefKind::Unknown => bail!("a type of unknown structure reached the bindings"),
                }
            }
        })
    }
}

/// The class in an annotation (`StreamWriter[int]` -> `StreamWriter`).
fn class_of(annotation: &str) -> &str {
    annotation.split('[').next().unwrap_or(annotation)
}
