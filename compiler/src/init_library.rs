//! The bindings library as the initialisation run needs it: without the
//! functions that run cannot reach, so that compiling it costs little.
//!
//! The initialisation run calls the library in two ways only: its
//! initialisers ([`crate::preinit`]'s `bindings-init` calls the exports it
//! names), and functions the interpreter calls through the table (the
//! library's element segments: import wrappers, callbacks). What else the
//! library exports (one wrapper per exported WIT function, `cabi_post_*`,
//! `cabi_realloc`) only the host calls, and only once the component runs.
//! The snapshot takes memory and globals, never code or function indices
//! (a function pointer in memory is a table slot, and the element segments
//! stay as they are): the component keeps the library's real code
//! (`crate::merge`).
//!
//! Long straight-line functions are split, too: Cranelift takes much
//! longer for one function of 2,000 stores than for 16 of 128, and compiles
//! the 16 in parallel. The app of 1000 exported functions
//! (`tests/bench/big`) has a library of 2,002 functions, of which the run
//! reaches two (`__wasm_apply_data_relocs`, 2,000 stores, and
//! `__wasm_call_ctors`): its `compile library` step (`-v`) took 0.33 s,
//! now 0.06-0.08 s.

use anyhow::{anyhow, Context, Result};
use std::borrow::Cow;
use wasm_encoder::reencode::{Error, Reencode};
use wasmparser::{ElementItems, ExternalKind, FunctionBody, Operator, Parser, Payload};

/// `library` without the defined functions that `entries` (export names),
/// the element segments and the start function cannot reach (the others
/// renumbered, their exports and the `name` section dropped), and with
/// long straight-line functions split; `library` itself when neither
/// applies.
pub(crate) fn for_initialisation<'a>(library: &'a [u8], entries: &[&str]) -> Result<Cow<'a, [u8]>> {
    let parsed = Parsed::read(library).context("failed to parse the bindings library")?;
    let live = parsed.live(entries).context("failed to read the bindings library's code")?;
    let mut next = parsed.imported_funcs;
    let new_index: Vec<Option<u32>> = live
        .iter()
        .map(|&live| {
            live.then(|| {
                next += 1;
                next - 1
            })
        })
        .collect();
    // Long straight-line functions (`__wasm_apply_data_relocs`: one store
    // per pointer in the library's data) split into pieces, new functions
    // after the others, which Cranelift compiles faster and in parallel.
    let mut pieces = Vec::new();
    let mut split = std::collections::HashMap::new();
    if let Some(unit) = parsed.unit_type() {
        for (defined, body) in parsed.code.iter().enumerate().filter(|&(i, _)| live[i]) {
            let Some(parts) = straight_line_pieces(body)? else { continue };
            let first = next + pieces.len() as u32;
            split.insert(defined, (first..first + parts.len() as u32).collect::<Vec<_>>());
            pieces.extend(parts.into_iter().map(|part| (unit, part)));
        }
    }
    if live.iter().all(|&l| l) && split.is_empty() {
        return Ok(Cow::Borrowed(library));
    }
    let mut shrink = Shrink { imported_funcs: parsed.imported_funcs, new_index, pieces, split };
    let mut module = wasm_encoder::Module::new();
    shrink
        .parse_core_module(&mut module, Parser::new(0), library)
        .map_err(|error| anyhow!("{error:?}"))
        .context("failed to leave unreachable code out of the bindings library")?;
    Ok(Cow::Owned(module.finish()))
}

/// How many stores (or other statements) one piece of a split function
/// holds.
const PIECE_STATEMENTS: usize = 128;

/// The statements of `body` in pieces of [`PIECE_STATEMENTS`], when it is
/// longer than one piece, has no locals and holds only constants, global
/// reads, additions and stores (so that the operand stack is empty between
/// statements); each piece is the raw bytes of its instructions.
fn straight_line_pieces<'a>(body: &FunctionBody<'a>) -> Result<Option<Vec<&'a [u8]>>> {
    if body.get_locals_reader()?.get_count() != 0 {
        return Ok(None);
    }
    let mut reader = body.get_operators_reader()?;
    let bytes = body.as_bytes();
    // Offsets in the module to offsets in `bytes`.
    let (base, code) = (body.range().start as u64, reader.original_position() as u64);
    let at = |offset: u64| (offset - base) as usize;
    let (mut pieces, mut start, mut depth, mut statements) = (Vec::new(), code, 0usize, 0usize);
    while !reader.eof() {
        let (op, offset) = reader.read_with_offset()?;
        depth = match op {
            Operator::GlobalGet { .. } | Operator::I32Const { .. } | Operator::I64Const { .. } => depth + 1,
            Operator::I32Add | Operator::I64Add if depth >= 2 => depth - 1,
            Operator::I32Store { .. } | Operator::I64Store { .. } if depth >= 2 => depth - 2,
            Operator::End if depth == 0 && reader.eof() => {
                pieces.push(&bytes[at(start)..at(offset as u64)]);
                break;
            }
            _ => return Ok(None),
        };
        if depth == 0 {
            statements += 1;
            if statements % PIECE_STATEMENTS == 0 {
                let end = reader.original_position() as u64;
                pieces.push(&bytes[at(start)..at(end)]);
                start = end;
            }
        }
    }
    pieces.retain(|piece| !piece.is_empty());
    Ok((pieces.len() > 1).then_some(pieces))
}

/// The re-encoding of [`for_initialisation`]: the new index of each
/// defined function that stays.
struct Shrink<'a> {
    imported_funcs: u32,
    new_index: Vec<Option<u32>>,
    /// The functions added after the others: type index, instructions.
    pieces: Vec<(u32, &'a [u8])>,
    /// Split functions (defined index): the new indices of their pieces,
    /// which their body now calls in order.
    split: std::collections::HashMap<usize, Vec<u32>>,
}

impl Shrink<'_> {
    fn new_index(&self, func: u32) -> Option<u32> {
        match func.checked_sub(self.imported_funcs) {
            None => Some(func),
            Some(defined) => self.new_index.get(defined as usize).copied().flatten(),
        }
    }
}

impl Reencode for Shrink<'_> {
    type Error = String;

    fn function_index(&mut self, func: u32) -> Result<u32, Error<String>> {
        self.new_index(func)
            .ok_or_else(|| Error::UserError(format!("function {func} is left out but referenced")))
    }

    fn parse_function_section(
        &mut self,
        functions: &mut wasm_encoder::FunctionSection,
        section: wasmparser::FunctionSectionReader<'_>,
    ) -> Result<(), Error<String>> {
        for (ty, new) in section.into_iter().zip(self.new_index.clone()) {
            let ty = ty?;
            if new.is_some() {
                functions.function(self.type_index(ty)?);
            }
        }
        for &(ty, _) in &self.pieces {
            functions.function(ty);
        }
        Ok(())
    }

    fn parse_code_section(
        &mut self,
        code: &mut wasm_encoder::CodeSection,
        section: wasmparser::CodeSectionReader<'_>,
    ) -> Result<(), Error<String>> {
        for (defined, (body, new)) in section.into_iter().zip(self.new_index.clone()).enumerate() {
            let body = body?;
            if let Some(pieces) = self.split.get(&defined) {
                let mut calls = wasm_encoder::Function::new([]);
                for &piece in pieces {
                    calls.instructions().call(piece);
                }
                calls.instructions().end();
                code.function(&calls);
            } else if new.is_some() {
                self.parse_function_body(code, body)?;
            }
        }
        for &(_, instructions) in &self.pieces {
            let mut piece = wasm_encoder::Function::new([]);
            piece.raw(instructions.iter().copied());
            piece.instructions().end();
            code.function(&piece);
        }
        Ok(())
    }

    fn parse_export(
        &mut self,
        exports: &mut wasm_encoder::ExportSection,
        export: wasmparser::Export<'_>,
    ) -> Result<(), Error<String>> {
        if export.kind != ExternalKind::Func || self.new_index(export.index).is_some() {
            wasm_encoder::reencode::utils::parse_export(self, exports, export)?;
        }
        Ok(())
    }

    fn parse_custom_section(
        &mut self,
        module: &mut wasm_encoder::Module,
        section: wasmparser::CustomSectionReader<'_>,
    ) -> Result<(), Error<String>> {
        // The names of functions that moved would be wrong.
        if section.name() != "name" {
            wasm_encoder::reencode::utils::parse_custom_section(self, module, section)?;
        }
        Ok(())
    }
}

/// What [`for_initialisation`] reads of the library.
#[derive(Default)]
struct Parsed<'a> {
    /// Whether each type is a function type without parameters or results.
    unit_types: Vec<bool>,
    imported_funcs: u32,
    exports: Vec<(&'a str, u32)>,
    /// Functions in element segments (reachable through the table, or by
    /// `ref.func`), named by a global's `ref.func`, and the start function.
    roots: Vec<u32>,
    code: Vec<FunctionBody<'a>>,
}

impl<'a> Parsed<'a> {
    fn read(library: &'a [u8]) -> Result<Self> {
        let mut parsed = Parsed::default();
        for payload in Parser::new(0).parse_all(library) {
            match payload? {
                Payload::TypeSection(reader) => {
                    for ty in reader.into_iter_err_on_gc_types() {
                        let ty = ty?;
                        parsed.unit_types.push(ty.params().is_empty() && ty.results().is_empty());
                    }
                }
                Payload::ImportSection(reader) => {
                    for import in reader.into_imports() {
                        if matches!(import?.ty, wasmparser::TypeRef::Func(_) | wasmparser::TypeRef::FuncExact(_)) {
                            parsed.imported_funcs += 1;
                        }
                    }
                }
                Payload::ExportSection(reader) => {
                    for export in reader {
                        let export = export?;
                        if export.kind == ExternalKind::Func {
                            parsed.exports.push((export.name, export.index));
                        }
                    }
                }
                Payload::ElementSection(reader) => {
                    for element in reader {
                        match element?.items {
                            ElementItems::Functions(funcs) => {
                                for func in funcs {
                                    parsed.roots.push(func?);
                                }
                            }
                            ElementItems::Expressions(_, exprs) => {
                                for expr in exprs {
                                    for op in expr?.get_operators_reader() {
                                        if let Operator::RefFunc { function_index } = op? {
                                            parsed.roots.push(function_index);
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                Payload::GlobalSection(reader) => {
                    for global in reader {
                        for op in global?.init_expr.get_operators_reader() {
                            if let Operator::RefFunc { function_index } = op? {
                                parsed.roots.push(function_index);
                            }
                        }
                    }
                }
                Payload::StartSection { func, .. } => parsed.roots.push(func),
                Payload::CodeSectionEntry(body) => parsed.code.push(body),
                _ => {}
            }
        }
        Ok(parsed)
    }

    /// The index of a type without parameters or results, if there is one.
    fn unit_type(&self) -> Option<u32> {
        self.unit_types.iter().position(|&unit| unit).map(|i| i as u32)
    }

    /// For each defined function, whether the entries or the roots reach it
    /// through direct calls and `ref.func` (`merge::reachable`'s walk).
    fn live(&self, entries: &[&str]) -> Result<Vec<bool>> {
        let edges = self
            .code
            .iter()
            .map(|body| {
                let mut called = Vec::new();
                for op in body.get_operators_reader()? {
                    match op? {
                        Operator::Call { function_index }
                        | Operator::ReturnCall { function_index }
                        | Operator::RefFunc { function_index } => called.push(function_index),
                        _ => {}
                    }
                }
                Ok(called)
            })
            .collect::<Result<Vec<_>>>()?;
        let mut work = self.roots.clone();
        work.extend(self.exports.iter().filter(|(name, _)| entries.contains(name)).map(|&(_, index)| index));
        Ok(crate::merge::reachable(self.imported_funcs, &edges, work))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A library like wit-dylib's: an initialiser that calls a function in
    /// the table and a helper; an export only the host calls, before them.
    const LIBRARY: &str = r#"
        (module
          (import "env" "host" (func $host (param i32)))
          (table 1 funcref)
          (elem (i32.const 0) func $in_table)
          (func $wrapper (export "my-export") (param i32) (result i32)
            (call $helper (local.get 0))
            (drop (call $only_from_wrapper))
            (local.get 0))
          (func $helper (param i32) (call $host (local.get 0)))
          (func $only_from_wrapper (result i32) (i32.const 3))
          (func $in_table (result i32) (i32.const 2))
          (func $init (export "__wasm_call_ctors")
            (call $helper (call_indirect (result i32) (i32.const 0)))))
    "#;

    /// What `__wasm_call_ctors` of `wasm` passes to the host.
    fn run_init(wasm: &[u8]) -> i32 {
        use wasmtime::{Engine, Func, Instance, Module, Store};
        let engine = Engine::default();
        let module = Module::new(&engine, wasm).unwrap();
        let mut store = Store::new(&engine, 0);
        let host = Func::wrap(&mut store, |mut caller: wasmtime::Caller<'_, i32>, value: i32| {
            *caller.data_mut() = value;
        });
        let instance = Instance::new(&mut store, &module, &[host.into()]).unwrap();
        let init = instance.get_typed_func::<(), ()>(&mut store, "__wasm_call_ctors").unwrap();
        init.call(&mut store, ()).unwrap();
        *store.data()
    }

    #[test]
    fn code_only_the_host_calls_is_left_out() {
        let library = wat::parse_str(LIBRARY).unwrap();
        let shrunk = for_initialisation(&library, &["__wasm_call_ctors"]).unwrap();
        crate::validate::validate(&shrunk, wasmparser::WasmFeatures::default()).unwrap();
        let parsed = Parsed::read(&shrunk).unwrap();
        assert_eq!(parsed.code.len(), 3, "helper, in_table and init stay");
        let exports: Vec<&str> = parsed.exports.iter().map(|&(name, _)| name).collect();
        assert_eq!(exports, ["__wasm_call_ctors"], "the host may call only what stays");
        // The calls and the table still reach the same functions.
        assert_eq!(run_init(&library), 2);
        assert_eq!(run_init(&shrunk), 2);
    }

    /// A `__wasm_apply_data_relocs` of `stores` stores, as wit-dylib makes
    /// it, and a function that reads the memory back.
    fn relocations(stores: u32) -> Vec<u8> {
        let body: String = (0..stores)
            .map(|i| {
                format!(
                    "(i32.store (i32.add (global.get $base) (i32.const {})) \
                     (i32.add (global.get $base) (i32.const {})))\n",
                    4 * i,
                    1000 + i
                )
            })
            .collect();
        wat::parse_str(format!(
            r#"(module
                 (global $base i32 (i32.const 64))
                 (memory 1)
                 (func (export "__wasm_apply_data_relocs") {body})
                 (func (export "sum") (result i32) (local $i i32) (local $sum i32)
                   (loop $next
                     (local.set $sum (i32.add (local.get $sum)
                       (i32.mul (i32.add (local.get $i) (i32.const 1))
                         (i32.load offset=64 (i32.mul (local.get $i) (i32.const 4))))))
                     (br_if $next (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const {stores}))))
                   (local.get $sum)))"#
        ))
        .unwrap()
    }

    /// `sum` after `__wasm_apply_data_relocs` of `wasm`.
    fn relocated_sum(wasm: &[u8]) -> i32 {
        use wasmtime::{Engine, Instance, Module, Store};
        let engine = Engine::default();
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &Module::new(&engine, wasm).unwrap(), &[]).unwrap();
        let relocate = instance.get_typed_func::<(), ()>(&mut store, "__wasm_apply_data_relocs").unwrap();
        relocate.call(&mut store, ()).unwrap();
        let sum = instance.get_typed_func::<(), i32>(&mut store, "sum").unwrap();
        sum.call(&mut store, ()).unwrap()
    }

    #[test]
    fn long_relocations_are_split_into_pieces_that_store_the_same() {
        let library = relocations(300);
        let split = for_initialisation(&library, &["__wasm_apply_data_relocs", "sum"]).unwrap();
        crate::validate::validate(&split, wasmparser::WasmFeatures::default()).unwrap();
        // The relocations, `sum`, and three pieces of at most 128 stores.
        assert_eq!(Parsed::read(&split).unwrap().code.len(), 5);
        assert_eq!(relocated_sum(&split), relocated_sum(&library));
        // One piece's worth stays as it is.
        let short = relocations(100);
        assert!(matches!(for_initialisation(&short, &["__wasm_apply_data_relocs", "sum"]).unwrap(), Cow::Borrowed(_)));
    }

    #[test]
    fn a_library_whose_code_is_all_reachable_is_unchanged() {
        let library = wat::parse_str(LIBRARY).unwrap();
        let all = for_initialisation(&library, &["__wasm_call_ctors", "my-export"]).unwrap();
        assert!(matches!(all, Cow::Borrowed(_)));
    }
}
