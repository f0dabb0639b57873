//! Static merge of the `wit-dylib` bindings library into the interpreter
//! module (see `docs/internals.md`, section 2).
//!
//! The bindings library is a position-independent `dylink.0` side module that
//! imports the interpreter's memory, table, stack pointer and `wit_dylib_*`
//! functions from `env`. Instead of linking it at run time we link it here,
//! once: the interpreter is re-encoded with its function index space shifted
//! (its `componentize-py`.`bindings-init` import goes away and the library's
//! WIT imports come in after the interpreter's own imports), and the library's
//! types, functions, elements and data are appended with their indices
//! remapped and `__memory_base` / `__table_base` replaced by constants.
//!
//! Merged function index space, in order:
//!
//! | range | what |
//! |---|---|
//! | interpreter imports | all but `bindings-init`, in their order |
//! | library WIT imports | in their order |
//! | interpreter functions | |
//! | library functions | |
//! | one function | the synthesized `bindings-init` |
//!
//! Types, elements and data segments are simply interpreter first, then the
//! library. The library defines no memories, tables or globals of its own
//! (we check), so those index spaces are the interpreter's unchanged.

use anyhow::{anyhow, bail, ensure, Context, Result};
use std::convert::Infallible;
use wasm_encoder::reencode::{self, Reencode};
use wasm_encoder::{
    CodeSection, DataCountSection, DataSection, ElementSection, ExportKind, ExportSection,
    Function, FunctionSection, GlobalSection, ImportSection, Instruction, MemorySection,
    StartSection, TableSection, TypeSection,
};
use wasmparser::{
    Data, Element, Encoding, Export, ExternalKind, FuncType, FunctionBody, Global, Import,
    KnownCustom, MemInfo, MemoryType, Operator, Parser, Payload, Table, TypeRef,
    WasmFeatures,
};

/// Size in bytes of the zero-filled area the interpreter reserves (at the
/// address in its exported global `componentize_py_bindings_data`) for the
/// bindings library's data.
pub const BINDINGS_DATA_CAPACITY: u32 = 1 << 20;

/// Interpreter global export holding the address of the data area.
const DATA_AREA_EXPORT: &str = "componentize_py_bindings_data";
/// The interpreter import that the merge defines.
const BINDINGS_INIT: (&str, &str) = ("componentize-py", "bindings-init");
/// The interpreter exports that the merged module re-exports.
const INTERPRETER_EXPORTS: [(&str, ExternalKind); 4] = [
    ("memory", ExternalKind::Memory),
    ("cabi_realloc", ExternalKind::Func),
    ("_initialize", ExternalKind::Func),
    ("componentize-py-init", ExternalKind::Func),
];
/// The interpreter exports that wizer's snapshot removes (they ran at build
/// time): a snapshot template leaves them out.
const SNAPSHOT_REMOVES: [&str; 2] = ["_initialize", "componentize-py-init"];
/// Library exports that are linking machinery, not WIT exports.
const LIBRARY_INTERNAL_EXPORTS: [&str; 3] = [
    "cabi_realloc",
    "__wasm_apply_data_relocs",
    "__wasm_call_ctors",
];

/// Merge the bindings library (a `dylink.0` side module made by
/// `wit_dylib::create`) into the non-PIC interpreter module, giving one
/// ordinary core module.
///
/// The result imports what the interpreter imports (minus
/// `componentize-py`.`bindings-init`, which it defines) plus the library's
/// WIT imports, and exports `memory`, `cabi_realloc`, `_initialize`,
/// `componentize-py-init` and the library's WIT exports. It is validated
/// before it is returned, and the same inputs always give the same bytes.
pub fn merge(interpreter: &[u8], bindings: &[u8]) -> Result<Vec<u8>> {
    merge_with_placement(interpreter, bindings).map(|(merged, _)| merged)
}

/// Where the merge put the bindings library: what the library's `env`
/// imports `__memory_base` and `__table_base` became, and table 0's new size.
/// Linking the library at run time with these values (memory and table
/// shared with an interpreter instance whose table was grown to
/// `table_size`) gives the same memory layout as the merged module, which is
/// how `crate::preinit` runs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// Address of the library's data (`__memory_base`).
    pub memory_base: u32,
    /// Table index of the library's first element (`__table_base`): the
    /// interpreter's table size.
    pub table_base: u32,
    /// Table 0's size with the library's elements.
    pub table_size: u64,
}

/// [`merge`], also returning where the library went.
pub fn merge_with_placement(interpreter: &[u8], bindings: &[u8]) -> Result<(Vec<u8>, Placement)> {
    merge_impl(interpreter, bindings, false)
}

/// The merged module as the pre-initialised component keeps it: the same
/// types, imports, table, memory, globals, elements and data as [`merge`]'s,
/// the same function indices, but
///
/// - without the exports `_initialize` and `componentize-py-init` (the
///   snapshot removes them: they ran at build time);
/// - with every use of a defined interpreter function whose type and body
///   are byte-identical to an earlier function's (CPython has hundreds of
///   such twins, mostly small getters and stubs) redirected to that earlier
///   function (table slots stay distinct, so C function pointers still
///   compare as before);
/// - with the body of every function that no export, table element or call
///   chain from those reaches any more (start-up code, `wit_dylib_*`
///   helpers this world does not import, the redirected twins) replaced by
///   `unreachable`.
///
/// Every host compiles all code of a component, so less code loads faster.
/// It cannot run the initialisation (the entry points are gone): the
/// pre-initialiser runs the interpreter and the library instead (see
/// `crate::preinit`) and wizer snapshots into this module.
pub fn merge_snapshot_template(
    interpreter: &[u8],
    bindings: &[u8],
) -> Result<(Vec<u8>, Placement)> {
    merge_impl(interpreter, bindings, true)
}

/// Where [`merge`] and [`merge_snapshot_template`] place the bindings
/// library, without writing the merged module: what pre-initialisation
/// needs to run the interpreter and the library linked while the merged
/// module is still being written (`crate::preinit`).
pub fn placement(interpreter: &[u8], bindings: &[u8]) -> Result<Placement> {
    let interp = Module::parse(interpreter).context("failed to parse the interpreter module")?;
    let lib = Module::parse(bindings).context("failed to parse the bindings library")?;
    Ok(Plan::new(&interp, &lib, false)?.placement)
}

fn merge_impl(interpreter: &[u8], bindings: &[u8], template: bool) -> Result<(Vec<u8>, Placement)> {
    let interp = Module::parse(interpreter).context("failed to parse the interpreter module")?;
    let lib = Module::parse(bindings).context("failed to parse the bindings library")?;
    let plan = Plan::new(&interp, &lib, template)?;
    let placement = plan.placement;
    let merged = plan.emit(&interp, &lib, template)?;
    crate::validate::validate(&merged, WasmFeatures::default())
        .context("the merged module does not validate (this is a bug in the merge)")?;
    Ok((merged, placement))
}

/// The parts of a core module that the merge needs, in section order.
#[derive(Default)]
struct Module<'a> {
    types: Vec<FuncType>,
    imports: Vec<Import<'a>>,
    /// Type index of each defined function.
    funcs: Vec<u32>,
    tables: Vec<Table<'a>>,
    memories: Vec<MemoryType>,
    globals: Vec<Global<'a>>,
    exports: Vec<Export<'a>>,
    start: Option<u32>,
    elements: Vec<Element<'a>>,
    has_data_count: bool,
    code: Vec<FunctionBody<'a>>,
    data: Vec<Data<'a>>,
    /// The `dylink.0` memory info subsection, if any.
    mem_info: Option<MemInfo>,
}

impl<'a> Module<'a> {
    fn parse(bytes: &'a [u8]) -> Result<Self> {
        let mut m = Module::default();
        for payload in Parser::new(0).parse_all(bytes) {
            match payload? {
                Payload::Version { encoding, .. } => {
                    ensure!(
                        encoding == Encoding::Module,
                        "expected a core module, not a component"
                    )
                }
                Payload::TypeSection(r) => {
                    for ty in r.into_iter_err_on_gc_types() {
                        m.types.push(ty?);
                    }
                }
                Payload::ImportSection(r) => {
                    for import in r.into_imports() {
                        m.imports.push(import?);
                    }
                }
                Payload::FunctionSection(r) => m.funcs = r.into_iter().collect::<Result<_, _>>()?,
                Payload::TableSection(r) => m.tables = r.into_iter().collect::<Result<_, _>>()?,
                Payload::MemorySection(r) => {
                    m.memories = r.into_iter().collect::<Result<_, _>>()?
                }
                Payload::GlobalSection(r) => m.globals = r.into_iter().collect::<Result<_, _>>()?,
                Payload::ExportSection(r) => m.exports = r.into_iter().collect::<Result<_, _>>()?,
                Payload::StartSection { func, .. } => m.start = Some(func),
                Payload::ElementSection(r) => {
                    m.elements = r.into_iter().collect::<Result<_, _>>()?
                }
                Payload::DataCountSection { .. } => m.has_data_count = true,
                Payload::CodeSectionEntry(body) => m.code.push(body),
                Payload::DataSection(r) => m.data = r.into_iter().collect::<Result<_, _>>()?,
                Payload::CustomSection(c) => {
                    if let KnownCustom::Dylink0(r) = c.as_known() {
                        for sub in r {
                            if let wasmparser::Dylink0Subsection::MemInfo(info) = sub? {
                                m.mem_info = Some(info);
                            }
                        }
                    }
                }
                Payload::TagSection(_) => bail!("exception-handling tags are not supported"),
                Payload::CodeSectionStart { .. } | Payload::End(_) => {}
                other => bail!("unsupported section {other:?}"),
            }
        }
        Ok(m)
    }

    fn imported(&self, kind: ExternalKind) -> impl Iterator<Item = &Import<'a>> {
        self.imports.iter().filter(move |i| kind_of(i.ty) == kind)
    }

    fn export(&self, name: &str, kind: ExternalKind) -> Option<u32> {
        self.exports
            .iter()
            .find(|e| e.name == name && e.kind == kind)
            .map(|e| e.index)
    }

    /// The type of function `index` (imported or defined).
    fn func_type(&self, index: u32) -> Option<&FuncType> {
        let imported: Vec<u32> = self
            .imported(ExternalKind::Func)
            .filter_map(|i| match i.ty {
                TypeRef::Func(t) | TypeRef::FuncExact(t) => Some(t),
                _ => None,
            })
            .collect();
        let index = usize::try_from(index).ok()?;
        let ty = match index.checked_sub(imported.len()) {
            None => imported[index],
            Some(defined) => *self.funcs.get(defined)?,
        };
        self.types.get(usize::try_from(ty).ok()?)
    }
}

fn kind_of(ty: TypeRef) -> ExternalKind {
    match ty {
        TypeRef::Func(_) | TypeRef::FuncExact(_) => ExternalKind::Func,
        TypeRef::Table(_) => ExternalKind::Table,
        TypeRef::Memory(_) => ExternalKind::Memory,
        TypeRef::Global(_) => ExternalKind::Global,
        TypeRef::Tag(_) => ExternalKind::Tag,
    }
}

/// Where everything goes: the index maps for both modules plus the constants
/// that replace `__memory_base` and `__table_base`.
struct Plan<'a> {
    interp: InterpMap,
    lib: LibMap,
    /// Library imports kept as imports of the merged module (WIT imports).
    wit_imports: Vec<Import<'a>>,
    /// Type index (interpreter's) of the `bindings-init` import.
    init_type: u32,
    /// Library functions (library indices) that `bindings-init` calls.
    init_calls: Vec<u32>,
    /// New minimum size of table 0.
    table_size: u64,
    /// Where the library goes.
    placement: Placement,
}

/// Index map for the interpreter's code. Cheap to clone (the large table
/// is shared), so that bodies can be encoded on several threads.
#[derive(Clone)]
struct InterpMap {
    /// Function index of the `bindings-init` import.
    init_import: u32,
    /// Number of imported functions (including `bindings-init`).
    num_imports: u32,
    /// Number of library WIT imports inserted after the interpreter's imports.
    num_wit_imports: u32,
    /// Function index of the synthesized `bindings-init`.
    init_func: u32,
    /// For a snapshot template: each defined function's first byte-identical
    /// twin (same type, same body), by defined index; empty: no folding.
    canonical: std::sync::Arc<Vec<u32>>,
    /// While a body is encoded for a snapshot template: the merged indices
    /// of the functions it calls or references.
    edges: Option<Vec<u32>>,
}

impl InterpMap {
    fn func(&self, f: u32) -> u32 {
        let f = match f.checked_sub(self.num_imports) {
            Some(defined) => match self.canonical.get(defined as usize) {
                Some(&twin) => twin + self.num_imports,
                None => f,
            },
            None => f,
        };
        if f < self.init_import {
            f
        } else if f == self.init_import {
            self.init_func
        } else if f < self.num_imports {
            f - 1
        } else {
            f - 1 + self.num_wit_imports
        }
    }
}

impl Reencode for InterpMap {
    type Error = Infallible;

    fn function_index(&mut self, f: u32) -> Result<u32, reencode::Error<Infallible>> {
        let mapped = self.func(f);
        if let Some(edges) = &mut self.edges {
            edges.push(mapped);
        }
        Ok(mapped)
    }
}

/// What a library global import becomes.
#[derive(Clone, Copy, Debug)]
enum GlobalUse {
    /// `__memory_base` / `__table_base`: `global.get` becomes `i32.const`.
    Const(i32),
    /// `__stack_pointer`: the interpreter's global.
    Global(u32),
}

/// Index map for the library's code (cheap to clone, as [`InterpMap`]).
#[derive(Clone)]
struct LibMap {
    /// Merged index of each imported function, in import order.
    imported_funcs: std::sync::Arc<Vec<u32>>,
    /// Merged index of the library's first defined function.
    first_defined: u32,
    /// What each imported global becomes, in import order.
    globals: std::sync::Arc<Vec<GlobalUse>>,
    type_offset: u32,
    element_offset: u32,
    data_offset: u32,
    /// As [`InterpMap::edges`].
    edges: Option<Vec<u32>>,
}

impl LibMap {
    fn func(&self, f: u32) -> u32 {
        let imported = self.imported_funcs.len() as u32;
        match self.imported_funcs.get(f as usize) {
            Some(&mapped) => mapped,
            None => self.first_defined + (f - imported),
        }
    }
}

impl Reencode for LibMap {
    type Error = Infallible;

    fn function_index(&mut self, f: u32) -> Result<u32, reencode::Error<Infallible>> {
        let mapped = self.func(f);
        if let Some(edges) = &mut self.edges {
            edges.push(mapped);
        }
        Ok(mapped)
    }

    fn type_index(&mut self, ty: u32) -> Result<u32, reencode::Error<Infallible>> {
        Ok(ty + self.type_offset)
    }

    fn global_index(&mut self, g: u32) -> Result<u32, reencode::Error<Infallible>> {
        // Constants never reach here except through `global.set` on an
        // immutable global, which is invalid input; `u32::MAX` makes the final
        // validation report it.
        Ok(match self.globals.get(g as usize) {
            Some(GlobalUse::Global(mapped)) => *mapped,
            _ => u32::MAX,
        })
    }

    fn element_index(&mut self, e: u32) -> Result<u32, reencode::Error<Infallible>> {
        Ok(e + self.element_offset)
    }

    fn data_index(&mut self, d: u32) -> Result<u32, reencode::Error<Infallible>> {
        Ok(d + self.data_offset)
    }

    /// Turns `global.get __memory_base` / `__table_base` into `i32.const`,
    /// both in code and in constant expressions (data and element offsets).
    fn instruction<'a>(
        &mut self,
        op: Operator<'a>,
    ) -> Result<Instruction<'a>, reencode::Error<Infallible>> {
        if let Operator::GlobalGet { global_index } = op {
            if let Some(GlobalUse::Const(value)) = self.globals.get(global_index as usize) {
                return Ok(Instruction::I32Const(*value));
            }
        }
        reencode::utils::instruction(self, op)
    }
}

impl<'a> Plan<'a> {
    fn new(interp: &Module<'a>, lib: &Module<'a>, template: bool) -> Result<Self> {
        // The interpreter side: the import to replace and the exports to use.
        let (init_import, init_type) = interp
            .imported(ExternalKind::Func)
            .enumerate()
            .find(|(_, i)| (i.module, i.name) == BINDINGS_INIT)
            .and_then(|(index, i)| match i.ty {
                TypeRef::Func(ty) => Some((index as u32, ty)),
                _ => None,
            })
            .context(
                "the interpreter does not import function `componentize-py`.`bindings-init`",
            )?;
        ensure!(
            interp
                .types
                .get(init_type as usize)
                .is_some_and(|t| t.params().is_empty() && t.results().is_empty()),
            "the interpreter's `componentize-py`.`bindings-init` import is not `[] -> []`"
        );
        let table = interp_export(interp, "__indirect_function_table", ExternalKind::Table)?;
        ensure!(
            table == 0
                && interp.imported(ExternalKind::Table).count() == 0
                && !interp.tables.is_empty(),
            "the interpreter's `__indirect_function_table` must be its own table 0"
        );
        let memory = interp_export(interp, "memory", ExternalKind::Memory)?;
        ensure!(memory == 0, "the interpreter's `memory` must be memory 0");
        let stack_pointer = interp_export(interp, "__stack_pointer", ExternalKind::Global)?;
        let data_area = data_area_address(interp)?;

        // The library's placement: data in the area, elements after the table.
        let mem_info = lib
            .mem_info
            .context("the bindings library has no `dylink.0` memory info; is it from wit-dylib?")?;
        ensure!(
            lib.tables.is_empty() && lib.memories.is_empty() && lib.globals.is_empty(),
            "the bindings library defines tables, memories or globals, which the merge does not support"
        );
        ensure!(
            lib.start.is_none(),
            "the bindings library has a start function"
        );
        let align = 1u32
            .checked_shl(mem_info.memory_alignment)
            .context("the bindings library asks for an impossible data alignment")?;
        // Bytes from `data_area` up to the next multiple of `align`.
        let padding = data_area.wrapping_neg() & (align - 1);
        let needed = u64::from(padding) + u64::from(mem_info.memory_size);
        ensure!(
            needed <= u64::from(BINDINGS_DATA_CAPACITY),
            "the bindings library's data ({} bytes, aligned to {align}) does not fit in the \
             interpreter's {BINDINGS_DATA_CAPACITY}-byte `{DATA_AREA_EXPORT}` area",
            mem_info.memory_size
        );
        let memory_base = data_area + padding;
        let table_base = interp.tables[0].ty.initial;
        let table_base_i32 =
            i32::try_from(table_base).context("the interpreter's table is too large")?;

        // Function index layout (see the module docs).
        let num_imports = interp.imported(ExternalKind::Func).count() as u32;
        let num_wit_imports = lib
            .imported(ExternalKind::Func)
            .filter(|i| i.module != "env")
            .count() as u32;
        let interp_first_defined = num_imports - 1 + num_wit_imports;
        let lib_first_defined = interp_first_defined + interp.funcs.len() as u32;
        let interp_map = InterpMap {
            init_import,
            num_imports,
            num_wit_imports,
            init_func: lib_first_defined + lib.funcs.len() as u32,
            canonical: std::sync::Arc::new(if template { twins(interp) } else { Vec::new() }),
            edges: None,
        };

        // Resolve the library's imports.
        let mut wit_imports = Vec::new();
        let mut imported_funcs = Vec::new();
        let mut globals = Vec::new();
        for import in &lib.imports {
            match (import.module, import.name, import.ty) {
                ("env", "memory", TypeRef::Memory(_)) => {}
                ("env", "__indirect_function_table", TypeRef::Table(_)) => {}
                ("env", "__memory_base", TypeRef::Global(_)) => {
                    globals.push(GlobalUse::Const(memory_base as i32))
                }
                ("env", "__table_base", TypeRef::Global(_)) => {
                    globals.push(GlobalUse::Const(table_base_i32))
                }
                ("env", "__stack_pointer", TypeRef::Global(_)) => {
                    globals.push(GlobalUse::Global(stack_pointer))
                }
                ("env", name, TypeRef::Func(ty)) => {
                    let index = interp.export(name, ExternalKind::Func).with_context(|| {
                        format!(
                            "the interpreter does not export function `{name}`, \
                             which the bindings library imports"
                        )
                    })?;
                    ensure!(
                        interp.func_type(index) == lib.types.get(ty as usize),
                        "the interpreter's export `{name}` has a different type than the \
                         bindings library's import of it"
                    );
                    imported_funcs.push(interp_map.func(index));
                }
                (module, _, TypeRef::Func(_)) if module != "env" => {
                    imported_funcs.push(num_imports - 1 + wit_imports.len() as u32);
                    wit_imports.push(*import);
                }
                (module, name, _) => {
                    bail!("the bindings library has an unsupported import `{module}`.`{name}`")
                }
            }
        }

        let init_calls = ["__wasm_apply_data_relocs", "__wasm_call_ctors"]
            .into_iter()
            .filter_map(|name| lib.export(name, ExternalKind::Func))
            .collect();

        Ok(Plan {
            lib: LibMap {
                imported_funcs: std::sync::Arc::new(imported_funcs),
                first_defined: lib_first_defined,
                globals: std::sync::Arc::new(globals),
                type_offset: interp.types.len() as u32,
                element_offset: interp.elements.len() as u32,
                data_offset: interp.data.len() as u32,
                edges: None,
            },
            interp: interp_map,
            wit_imports,
            init_type,
            init_calls,
            table_size: table_base + u64::from(mem_info.table_size),
            placement: Placement {
                memory_base,
                table_base: table_base_i32 as u32,
                table_size: table_base + u64::from(mem_info.table_size),
            },
        })
    }

    /// Writes the merged module.
    fn emit(mut self, interp: &Module<'a>, lib: &Module<'a>, template: bool) -> Result<Vec<u8>> {
        let im = &mut self.interp;
        let lm = &mut self.lib;
        let mut module = wasm_encoder::Module::new();

        let mut types = TypeSection::new();
        for ty in &interp.types {
            types.ty().func_type(&im.func_type(ty.clone())?);
        }
        for ty in &lib.types {
            types.ty().func_type(&lm.func_type(ty.clone())?);
        }
        module.section(&types);

        let mut imports = ImportSection::new();
        for import in &interp.imports {
            if (import.module, import.name) != BINDINGS_INIT {
                im.parse_import(&mut imports, *import)?;
            }
        }
        for import in &self.wit_imports {
            lm.parse_import(&mut imports, *import)?;
        }
        module.section(&imports);

        let mut funcs = FunctionSection::new();
        for ty in &interp.funcs {
            funcs.function(*ty);
        }
        for ty in &lib.funcs {
            funcs.function(lm.type_index(*ty)?);
        }
        funcs.function(self.init_type);
        module.section(&funcs);

        let mut tables = TableSection::new();
        for (index, table) in interp.tables.iter().enumerate() {
            let mut table = table.clone();
            if index == 0 {
                table.ty.initial = self.table_size;
                table.ty.maximum = table.ty.maximum.map(|max| max.max(self.table_size));
            }
            im.parse_table(&mut tables, table)?;
        }
        module.section(&tables);

        let mut memories = MemorySection::new();
        for memory in &interp.memories {
            memories.memory(im.memory_type(*memory)?);
        }
        module.section(&memories);

        let mut globals = GlobalSection::new();
        for global in &interp.globals {
            im.parse_global(&mut globals, global.clone())?;
        }
        module.section(&globals);

        let mut exports = ExportSection::new();
        let mut roots = Vec::new();
        for (name, kind) in INTERPRETER_EXPORTS {
            if template && SNAPSHOT_REMOVES.contains(&name) {
                continue;
            }
            let index = interp_export(interp, name, kind)?;
            let index = match kind {
                ExternalKind::Func => im.func(index),
                _ => index,
            };
            if kind == ExternalKind::Func {
                roots.push(index);
            }
            exports.export(name, ExportKind::from(kind), index);
        }
        for export in &lib.exports {
            if LIBRARY_INTERNAL_EXPORTS.contains(&export.name) {
                continue;
            }
            ensure!(
                export.kind == ExternalKind::Func,
                "the bindings library exports `{}`, which is not a function",
                export.name
            );
            roots.push(lm.func(export.index));
            exports.export(export.name, ExportKind::Func, lm.func(export.index));
        }
        module.section(&exports);

        if let Some(start) = interp.start {
            roots.push(im.func(start));
            module.section(&StartSection {
                function_index: im.func(start),
            });
        }

        // Element items are function indices: record them as roots.
        let mut elements = ElementSection::new();
        im.edges = Some(Vec::new());
        for element in &interp.elements {
            im.parse_element(&mut elements, element.clone())?;
        }
        lm.edges = im.edges.take();
        for element in &lib.elements {
            lm.parse_element(&mut elements, element.clone())?;
        }
        roots.extend(lm.edges.take().unwrap_or_default());
        module.section(&elements);

        if interp.has_data_count || lib.has_data_count {
            let count = (interp.data.len() + lib.data.len()) as u32;
            module.section(&DataCountSection { count });
        }

        let mut code = CodeSection::new();
        if template {
            // Encode every body, noting what it calls, then keep the live ones.
            // The bodies are independent: encoded in parallel (rayon), and
            // collected in their order, so the output does not depend on the
            // number of threads.
            let (mut bodies, mut edges): (Vec<Function>, Vec<Vec<u32>>) = encode_bodies(im, &interp.code)?
                .into_iter()
                .chain(encode_bodies(lm, &lib.code)?)
                .unzip();
            bodies.push(init_function(&self.init_calls, lm));
            edges.push(self.init_calls.iter().map(|&f| lm.func(f)).collect());
            // The interpreter's first defined function (see the module docs).
            let first_defined = im.num_imports - 1 + im.num_wit_imports;
            let live = reachable(first_defined, &edges, roots);
            let mut stub = Function::new([]);
            stub.instructions().unreachable().end();
            for (body, live) in bodies.iter().zip(&live) {
                code.function(if *live { body } else { &stub });
            }
        } else {
            for body in &interp.code {
                im.parse_function_body(&mut code, body.clone())?;
            }
            for body in &lib.code {
                lm.parse_function_body(&mut code, body.clone())?;
            }
            code.function(&init_function(&self.init_calls, lm));
        }
        module.section(&code);

        let mut data = DataSection::new();
        for datum in &interp.data {
            im.parse_data(&mut data, datum.clone())?;
        }
        for datum in &lib.data {
            lm.parse_data(&mut data, datum.clone())?;
        }
        module.section(&data);

        Ok(module.finish())
    }
}

/// The synthesized `bindings-init`: calls the library's initialisers.
fn init_function(init_calls: &[u32], lm: &LibMap) -> Function {
    let mut init = Function::new([]);
    for &func in init_calls {
        init.instructions().call(lm.func(func));
    }
    init.instructions().end();
    init
}

/// Re-encode `bodies` with (clones of) `map`, in parallel, each with the
/// merged indices of the functions it references; in the order of `bodies`.
fn encode_bodies<M>(map: &M, bodies: &[FunctionBody<'_>]) -> Result<Vec<(Function, Vec<u32>)>>
where
    M: Reencode<Error = Infallible> + Recording + Clone + Send + Sync,
{
    use rayon::prelude::*;
    bodies
        .par_iter()
        .map_init(
            || map.clone(),
            |map, body| {
                map.start_recording();
                let function = encode_body(map, body)?;
                Ok((function, map.recorded()))
            },
        )
        .collect()
}

/// An index map that can note the functions a body references.
trait Recording {
    /// Start noting (forgetting what was noted before).
    fn start_recording(&mut self);
    /// What was noted since [`Recording::start_recording`].
    fn recorded(&mut self) -> Vec<u32>;
}

impl Recording for InterpMap {
    fn start_recording(&mut self) {
        self.edges = Some(Vec::new());
    }
    fn recorded(&mut self) -> Vec<u32> {
        self.edges.take().unwrap_or_default()
    }
}

impl Recording for LibMap {
    fn start_recording(&mut self) {
        self.edges = Some(Vec::new());
    }
    fn recorded(&mut self) -> Vec<u32> {
        self.edges.take().unwrap_or_default()
    }
}

/// Re-encode one function body with `map`.
fn encode_body(map: &mut impl Reencode<Error = Infallible>, body: &FunctionBody) -> Result<Function> {
    let mut function = map
        .new_function_with_parsed_locals(body)
        .map_err(|e| anyhow!("{e:?}"))?;
    let mut reader = body.get_operators_reader()?;
    while !reader.eof() {
        function.instruction(&map.parse_instruction(&mut reader).map_err(|e| anyhow!("{e:?}"))?);
    }
    Ok(function)
}

/// Which defined functions (by defined index) `work` reaches through
/// `edges` (the function indices each defined function references, in an
/// index space whose defined functions start at `first_defined`; here the
/// merged module's, in `init_library` the bindings library's).
pub(crate) fn reachable(first_defined: u32, edges: &[Vec<u32>], mut work: Vec<u32>) -> Vec<bool> {
    let mut live = vec![false; edges.len()];
    while let Some(func) = work.pop() {
        let Some(defined) = func.checked_sub(first_defined) else { continue };
        match live.get_mut(defined as usize) {
            Some(seen) if !*seen => {
                *seen = true;
                work.extend_from_slice(&edges[defined as usize]);
            }
            _ => {}
        }
    }
    live
}

/// For each defined function of `interp`, the defined index of the first
/// function with the same type and body bytes (bodies that are equal as
/// bytes refer to the same functions, globals and types, so they behave the
/// same).
fn twins(interp: &Module) -> Vec<u32> {
    let mut first: std::collections::HashMap<(u32, &[u8]), u32> =
        std::collections::HashMap::with_capacity(interp.code.len());
    interp
        .code
        .iter()
        .zip(&interp.funcs)
        .enumerate()
        .map(|(i, (body, &ty))| *first.entry((ty, body.as_bytes())).or_insert(i as u32))
        .collect()
}

fn interp_export(interp: &Module, name: &str, kind: ExternalKind) -> Result<u32> {
    interp
        .export(name, kind)
        .ok_or_else(|| anyhow!("the interpreter does not export {kind:?} `{name}`"))
}

/// The address in the interpreter's `componentize_py_bindings_data` global.
fn data_area_address(interp: &Module) -> Result<u32> {
    let index = interp_export(interp, DATA_AREA_EXPORT, ExternalKind::Global)?;
    let imported = interp.imported(ExternalKind::Global).count();
    let global = (index as usize)
        .checked_sub(imported)
        .and_then(|defined| interp.globals.get(defined))
        .with_context(|| {
            format!("the interpreter's `{DATA_AREA_EXPORT}` must be a defined global")
        })?;
    match global.init_expr.get_operators_reader().read()? {
        Operator::I32Const { value } => Ok(value as u32),
        _ => bail!("the interpreter's `{DATA_AREA_EXPORT}` is not initialised by `i32.const`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmparser::Validator;
    use wasmtime::{Caller, Engine, Instance, Linker, Store};

    const WIT: &str = "package t:t;
        world w {
            export add: func(a: u32, b: u32) -> u32;
            import log: func(x: u32);
        }";

    /// Where the fake interpreter's data area starts (its stack is below).
    const DATA_AREA: u32 = 0x1_0000;

    /// The bindings library for [`WIT`], straight from `wit_dylib::create`.
    fn bindings() -> Vec<u8> {
        let mut resolve = wit_parser::Resolve::new();
        let pkg = resolve.push_str("t.wit", WIT).expect("test WIT parses");
        let world = resolve
            .select_world(&[pkg], Some("w"))
            .expect("world exists");
        wit_dylib::create(&resolve, world, None).expect("wit-dylib succeeds")
    }

    /// A fake interpreter implementing the few `wit_dylib_*` functions that
    /// `add` needs; every other `wit_dylib_*` the library imports (except
    /// `omit`) is a trapping stub with the right signature.
    ///
    /// Memory: stack below `DATA_AREA`; at 8 the `wit_t*` given to
    /// `wit_dylib_initialize`; at 12 how often it was called; at 16 whether
    /// `wit_dylib_export_finish` ran; at 0x100 a stack of i32 values (`cx`).
    fn fake_interpreter(bindings: &[u8], omit: Option<&str>) -> Vec<u8> {
        fake_interpreter_with(bindings, omit, "")
    }

    /// [`fake_interpreter`] with `extra` module fields.
    fn fake_interpreter_with(bindings: &[u8], omit: Option<&str>, extra: &str) -> Vec<u8> {
        let handwritten = [
            "cabi_realloc",
            "wit_dylib_initialize",
            "wit_dylib_export_start",
            "wit_dylib_export_call",
            "wit_dylib_export_finish",
            "wit_dylib_push_u32",
            "wit_dylib_pop_u32",
        ];
        let lib = Module::parse(bindings).expect("bindings parse");
        let mut stubs = String::new();
        for import in lib
            .imported(ExternalKind::Func)
            .filter(|i| i.module == "env")
        {
            if handwritten.contains(&import.name) || Some(import.name) == omit {
                continue;
            }
            let TypeRef::Func(ty) = import.ty else {
                unreachable!()
            };
            let ty = &lib.types[ty as usize];
            let wat = |tys: &[wasmparser::ValType]| -> String {
                tys.iter().map(|t| format!(" {t}")).collect()
            };
            stubs += &format!(
                "(func (export \"{}\") (param{}) (result{}) unreachable)\n",
                import.name,
                wat(ty.params()),
                wat(ty.results())
            );
        }
        let wat = format!(
            r#"(module
  (type $import_fn (func (param i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))
  (import "componentize-py" "bindings-init" (func $bindings_init))
  (import "wasi_snapshot_preview1" "sched_yield" (func (result i32)))
  (memory (export "memory") 20)
  (table (export "__indirect_function_table") 2 2 funcref)
  (elem (i32.const 1) func $seven)
  (global (export "__stack_pointer") (mut i32) (i32.const {DATA_AREA}))
  (global (export "componentize_py_bindings_data") i32 (i32.const {DATA_AREA}))
  (global $heap (mut i32) (i32.const 0x110000))
  (global $depth (mut i32) (i32.const 0))
  (func $seven (result i32) i32.const 7)
  (func (export "_initialize") (drop (call_indirect (result i32) (i32.const 1))))
  (func (export "componentize-py-init") call $bindings_init)
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    global.get $heap
    (global.set $heap (i32.add (global.get $heap) (local.get 3))))
  (func (export "wit_dylib_initialize") (param i32)
    (i32.store (i32.const 8) (local.get 0))
    (i32.store (i32.const 12) (i32.add (i32.load (i32.const 12)) (i32.const 1))))
  (func (export "wit_dylib_export_start") (param i32) (result i32) i32.const 0x100)
  (func $push (export "wit_dylib_push_u32") (param $cx i32) (param $v i32)
    (i32.store (i32.add (local.get $cx) (i32.shl (global.get $depth) (i32.const 2)))
               (local.get $v))
    (global.set $depth (i32.add (global.get $depth) (i32.const 1))))
  (func $pop (export "wit_dylib_pop_u32") (param $cx i32) (result i32)
    (global.set $depth (i32.sub (global.get $depth) (i32.const 1)))
    (i32.load (i32.add (local.get $cx) (i32.shl (global.get $depth) (i32.const 2)))))
  ;; add: pop both arguments, log the sum through the WIT import (found via
  ;; the relocated `wit_t`), push the sum as the result.
  (func (export "wit_dylib_export_call") (param $cx i32) (param $which i32)
    (local $sum i32)
    (local.set $sum (i32.add (call $pop (local.get $cx)) (call $pop (local.get $cx))))
    (call $push (local.get $cx) (local.get $sum))
    ;; wit->import_funcs[0].impl(cx)
    (call_indirect (type $import_fn) (local.get $cx)
      (i32.load offset=8 (i32.load offset=8 (i32.load (i32.const 8)))))
    (call $push (local.get $cx) (local.get $sum)))
  (func (export "wit_dylib_export_finish") (param i32 i32)
    (i32.store (i32.const 16) (i32.const 1)))
  {stubs}
  {extra})"#
        );
        wat::parse_str(&wat).expect("fake interpreter assembles")
    }

    fn instantiate(merged: &[u8]) -> wasmtime::Result<(Store<Vec<u32>>, Instance)> {
        let engine = Engine::default();
        let module = wasmtime::Module::new(&engine, merged)?;
        let mut linker = Linker::new(&engine);
        linker.func_wrap("wasi_snapshot_preview1", "proc_exit", |_: i32| {})?;
        linker.func_wrap("wasi_snapshot_preview1", "sched_yield", || 0i32)?;
        linker.func_wrap("$root", "log", |mut c: Caller<'_, Vec<u32>>, x: u32| {
            c.data_mut().push(x)
        })?;
        let mut store = Store::new(&engine, Vec::new());
        let instance = linker.instantiate(&mut store, &module)?;
        Ok((store, instance))
    }

    #[test]
    fn merged_module_runs_add() -> wasmtime::Result<()> {
        let lib = bindings();
        let merged = merge(&fake_interpreter(&lib, None), &lib).expect("merge succeeds");

        let module = Module::parse(&merged).expect("merged module parses");
        let imports: Vec<_> = module.imports.iter().map(|i| (i.module, i.name)).collect();
        assert_eq!(
            imports,
            [
                ("wasi_snapshot_preview1", "proc_exit"),
                ("wasi_snapshot_preview1", "sched_yield"),
                ("$root", "log"),
            ]
        );
        let exports: Vec<_> = module.exports.iter().map(|e| e.name).collect();
        assert_eq!(
            exports,
            [
                "memory",
                "cabi_realloc",
                "_initialize",
                "componentize-py-init",
                "add",
                "cabi_post_add"
            ]
        );

        let (mut store, instance) = instantiate(&merged)?;
        let memory = instance
            .get_memory(&mut store, "memory")
            .expect("memory export");
        let load = |store: &Store<Vec<u32>>, addr: u32| {
            let bytes = &memory.data(store)[addr as usize..][..4];
            u32::from_le_bytes(bytes.try_into().unwrap())
        };
        instance
            .get_typed_func::<(), ()>(&mut store, "_initialize")?
            .call(&mut store, ())?;
        instance
            .get_typed_func::<(), ()>(&mut store, "componentize-py-init")?
            .call(&mut store, ())?;

        // `wit_dylib_initialize` ran once, with a `wit_t*` in the data area
        // whose own pointers were relocated into the data area too.
        assert_eq!(load(&store, 12), 1);
        let area = DATA_AREA..DATA_AREA + BINDINGS_DATA_CAPACITY;
        let wit = load(&store, 8);
        assert!(area.contains(&wit), "wit_t* {wit:#x} outside the data area");
        let import_funcs = load(&store, wit + 8);
        assert!(
            area.contains(&import_funcs),
            "import_funcs {import_funcs:#x} not relocated"
        );
        let name = load(&store, import_funcs + 4);
        assert_eq!(&memory.data(&store)[name as usize..][..3], b"log");

        let add = instance.get_typed_func::<(u32, u32), u32>(&mut store, "add")?;
        assert_eq!(add.call(&mut store, (3, 4))?, 7);
        assert_eq!(store.data(), &[7]);
        instance
            .get_typed_func::<u32, ()>(&mut store, "cabi_post_add")?
            .call(&mut store, 7)?;
        assert_eq!(load(&store, 16), 1, "wit_dylib_export_finish did not run");
        Ok(())
    }

    #[test]
    fn snapshot_template_drops_entry_points_and_dead_code() -> Result<()> {
        let lib = bindings();
        let interp = fake_interpreter(&lib, None);
        let (full, placement) = merge_with_placement(&interp, &lib)?;
        let (template, template_placement) = merge_snapshot_template(&interp, &lib)?;
        assert_eq!(placement, template_placement);
        assert_eq!(placement, super::placement(&interp, &lib)?);
        assert_eq!(template, merge_snapshot_template(&interp, &lib)?.0);
        Validator::new_with_features(WasmFeatures::default()).validate_all(&template)?;
        let full = Module::parse(&full)?;
        let module = Module::parse(&template)?;
        // Same index spaces, minus the two entry points.
        assert_eq!(module.funcs, full.funcs);
        assert_eq!(module.imports.len(), full.imports.len());
        assert_eq!(module.globals.len(), full.globals.len());
        let exports: Vec<_> = module.exports.iter().map(|e| e.name).collect();
        assert_eq!(exports, ["memory", "cabi_realloc", "add", "cabi_post_add"]);
        // `_initialize`, `componentize-py-init` and the synthesized
        // `bindings-init` only ran at build time: their bodies are gone.
        let stub = [0x00, 0x00, 0x0b]; // no locals, `unreachable`, `end`
        let imported = module.imported(ExternalKind::Func).count();
        let body = |name: &str| {
            let index = full.export(name, ExternalKind::Func).unwrap() as usize;
            module.code[index - imported].as_bytes()
        };
        assert_eq!(body("_initialize"), stub);
        assert_eq!(body("componentize-py-init"), stub);
        assert_eq!(module.code.last().unwrap().as_bytes(), stub);
        // What the exports and the table reach stays.
        assert_ne!(body("add"), stub);
        assert_ne!(body("cabi_realloc"), stub);
        let seven = module.code.iter().filter(|b| b.as_bytes() == [0x00, 0x41, 0x07, 0x0b]);
        assert_eq!(seven.count(), 1, "the table's `$seven` was dropped");
        Ok(())
    }

    #[test]
    fn identical_functions_are_folded_in_the_template() -> Result<()> {
        let lib = bindings();
        // Two byte-identical functions, both referenced by an element
        // segment: the template keeps one body, and both element items
        // name it.
        let interp = fake_interpreter_with(
            &lib,
            None,
            "(func $twin_a (result i32) i32.const 42)
             (func $twin_b (result i32) i32.const 42)
             (elem declare func $twin_a $twin_b)",
        );
        let (template, _) = merge_snapshot_template(&interp, &lib)?;
        Validator::new_with_features(WasmFeatures::default()).validate_all(&template)?;
        let module = Module::parse(&template)?;
        let twins = module.code.iter().filter(|b| b.as_bytes() == [0x00, 0x41, 42, 0x0b]);
        assert_eq!(twins.count(), 1);
        let declared = module
            .elements
            .iter()
            .find(|e| matches!(e.kind, wasmparser::ElementKind::Declared))
            .unwrap();
        let wasmparser::ElementItems::Functions(items) = declared.items.clone() else {
            panic!("expected function items")
        };
        let items: Vec<u32> = items.into_iter().collect::<Result<_, _>>()?;
        assert_eq!(items.len(), 2);
        assert_eq!(items[0], items[1]);
        // The plain merge folds nothing.
        let full_bytes = merge(&interp, &lib)?;
        let full = Module::parse(&full_bytes)?;
        let twins = full.code.iter().filter(|b| b.as_bytes() == [0x00, 0x41, 42, 0x0b]);
        assert_eq!(twins.count(), 2);
        Ok(())
    }

    #[test]
    fn merge_is_deterministic_and_valid() -> Result<()> {
        let lib = bindings();
        let interp = fake_interpreter(&lib, None);
        let first = merge(&interp, &lib)?;
        assert_eq!(first, merge(&interp, &lib)?);
        Validator::new_with_features(WasmFeatures::default()).validate_all(&first)?;
        // No custom sections (names, dylink.0) survive.
        for payload in Parser::new(0).parse_all(&first) {
            assert!(!matches!(payload?, Payload::CustomSection(_)));
        }
        Ok(())
    }

    #[test]
    fn missing_interpreter_export_is_named() {
        let lib = bindings();
        let interp = fake_interpreter(&lib, Some("wit_dylib_pop_f64"));
        let err = merge(&interp, &lib).unwrap_err();
        assert!(
            format!("{err:#}").contains("`wit_dylib_pop_f64`"),
            "{err:#}"
        );
    }

    #[test]
    fn data_that_does_not_fit_is_an_error() {
        let lib = bindings();
        let interp = fake_interpreter(&lib, None);
        let mut parsed = Module::parse(&lib).unwrap();
        let info = parsed.mem_info.as_mut().unwrap();
        info.memory_size = BINDINGS_DATA_CAPACITY + 1;
        let err = Plan::new(&Module::parse(&interp).unwrap(), &parsed, false)
            .err()
            .unwrap();
        assert!(format!("{err:#}").contains("does not fit"), "{err:#}");
    }
}
