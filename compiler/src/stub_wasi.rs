//! `componentize --stub-wasi`: a component that imports no WASI interface.
//!
//! The pre-initialised core module still imports its
//! `wasi_snapshot_preview1` functions (CPython and wasi-libc are built for
//! WASI). Instead of the WASI preview1 adapter, which would turn them into
//! `wasi:*` imports of the component, wit-component is given a *stub
//! adapter* under the same module name: a core module that defines each of
//! those functions with the body `unreachable` and imports nothing. The
//! core module itself is not rewritten (no function index moves), and the
//! component's only imports are the world's own.
//!
//! At run time any WASI call therefore traps: `print`, `time.time()`,
//! `os.urandom`. One stub answers instead: `fd_prestat_get` says there are
//! no preopened directories, so opening a file or importing a module that
//! is not in the snapshot fails with a Python exception, not a trap. The runtime avoids WASI on the ordinary call
//! path when it was initialised with `COMPONENTIZE_PY_STUB_WASI=1` (see
//! `runtime/init.c`: no environment, argument or entropy refresh at the
//! first call).

use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use wasm_encoder::{
    CodeSection, ExportKind, ExportSection, Function, FunctionSection, Instruction, Module,
    NameMap, NameSection, TypeSection, ValType,
};
use wasmparser::{Parser, Payload, TypeRef};
use wit_component::StringEncoding;

/// The core module name under which WASI preview1 functions are imported.
pub const WASI_PREVIEW1: &str = "wasi_snapshot_preview1";

/// The one stub that answers instead of trapping: `fd_prestat_get` returns
/// `EBADF` (8), "no more preopened directories", so wasi-libc sees an empty
/// file system. Every path operation then fails inside wasi-libc (`ENOENT`)
/// before reaching WASI, and Python raises `FileNotFoundError` or
/// `ModuleNotFoundError` instead of trapping; CPython also reads source
/// files for `SyntaxError` messages, which would otherwise trap.
const NO_PREOPENS: (&str, i32) = ("fd_prestat_get", 8);

/// Prefix of the stub functions' names in the stub adapter's name section,
/// and so in backtraces (`stub-wasi:fd_write`); wit-component keeps
/// function names but drops the module's name.
const STUB_PREFIX: &str = "stub-wasi:";

/// If `error` is a trap in a stub made by [`stub_adapter`], the name of the
/// WASI function the guest called (e.g. `fd_write` for a `print`).
pub fn stub_trap(error: &anyhow::Error) -> Option<String> {
    let backtrace = error.downcast_ref::<wasmtime::WasmBacktrace>()?;
    let frame = backtrace.frames().first()?;
    frame.func_name()?.strip_prefix(STUB_PREFIX).map(str::to_string)
}

/// A stub adapter for `module`: for each function `module` imports from
/// [`WASI_PREVIEW1`], a function of the same name and type whose body traps
/// (except `fd_prestat_get`, see [`NO_PREOPENS`]).
/// It carries an empty world's component type, as wit-component requires of
/// an adapter. Errors if `module` imports anything else from WASI preview1
/// (a memory, a table, a global).
pub fn stub_adapter(module: &[u8]) -> Result<Vec<u8>> {
    let mut types: Vec<Option<wasmparser::FuncType>> = Vec::new();
    let mut stubs: Vec<(String, wasmparser::FuncType)> = Vec::new();
    for payload in Parser::new(0).parse_all(module) {
        match payload.context("reading the core module")? {
            Payload::TypeSection(reader) => {
                for group in reader {
                    let group = group.context("reading the core module's types")?;
                    for sub in group.into_types() {
                        types.push(match sub.composite_type.inner {
                            wasmparser::CompositeInnerType::Func(f) => Some(f),
                            _ => None,
                        });
                    }
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import.context("reading the core module's imports")?;
                    if import.module != WASI_PREVIEW1 {
                        continue;
                    }
                    let TypeRef::Func(index) = import.ty else {
                        bail!(
                            "the core module imports `{}.{}`, which is not a function; \
                             --stub-wasi can only stub functions",
                            import.module,
                            import.name
                        );
                    };
                    let ty = types
                        .get(index as usize)
                        .cloned()
                        .flatten()
                        .with_context(|| {
                            format!("import `{WASI_PREVIEW1}.{}` has no function type", import.name)
                        })?;
                    stubs.push((import.name.to_string(), ty));
                }
            }
            _ => {}
        }
    }

    let mut type_section = TypeSection::new();
    let mut type_of: HashMap<(Vec<ValType>, Vec<ValType>), u32> = HashMap::new();
    let mut functions = FunctionSection::new();
    let mut exports = ExportSection::new();
    let mut code = CodeSection::new();
    for (index, (name, ty)) in stubs.iter().enumerate() {
        let params = ty.params().iter().map(|t| val_type(*t)).collect::<Result<Vec<_>>>()?;
        let results = ty.results().iter().map(|t| val_type(*t)).collect::<Result<Vec<_>>>()?;
        let answers = name == NO_PREOPENS.0
            && params == [ValType::I32, ValType::I32]
            && results == [ValType::I32];
        let next = type_of.len() as u32;
        let type_index = *type_of.entry((params.clone(), results.clone())).or_insert_with(|| {
            type_section.ty().function(params, results);
            next
        });
        functions.function(type_index);
        exports.export(name, ExportKind::Func, index as u32);
        let mut body = Function::new([]);
        if answers {
            body.instruction(&Instruction::I32Const(NO_PREOPENS.1));
        } else {
            body.instruction(&Instruction::Unreachable);
        }
        body.instruction(&Instruction::End);
        code.function(&body);
    }
    // Names for backtraces: a trap shows `stub-wasi:fd_write`, which
    // `stub_trap` recognises.
    let mut names = NameSection::new();
    let mut function_names = NameMap::new();
    for (index, (name, _)) in stubs.iter().enumerate() {
        function_names.append(index as u32, &format!("{STUB_PREFIX}{name}"));
    }
    names.functions(&function_names);
    let mut adapter = Module::new();
    adapter.section(&type_section);
    adapter.section(&functions);
    adapter.section(&exports);
    adapter.section(&code);
    adapter.section(&names);
    let mut adapter = adapter.finish();

    // wit-component reads an adapter's world from its custom section; this
    // one imports and exports nothing at the component level.
    let (resolve, world) = crate::wit::empty_world("stub-wasi", "stub")?;
    wit_component::embed_component_metadata(&mut adapter, &resolve, world, StringEncoding::UTF8, false)
        .context("embedding the stub adapter's component type")?;
    Ok(adapter)
}

/// A number type of a WASI preview1 signature.
fn val_type(ty: wasmparser::ValType) -> Result<ValType> {
    Ok(match ty {
        wasmparser::ValType::I32 => ValType::I32,
        wasmparser::ValType::I64 => ValType::I64,
        wasmparser::ValType::F32 => ValType::F32,
        wasmparser::ValType::F64 => ValType::F64,
        other => bail!("a WASI preview1 import uses the type `{other}`, which --stub-wasi does not stub"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stubs_each_wasi_function_with_its_type() {
        let module = wat::parse_str(
            r#"(module
                 (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
                 (import "env" "other" (func))
                 (import "wasi_snapshot_preview1" "proc_exit" (func (param i32))))"#,
        )
        .unwrap();
        let adapter = stub_adapter(&module).unwrap();
        wasmparser::Validator::new().validate_all(&adapter).unwrap();
        let mut exports = Vec::new();
        let mut imports = 0;
        for payload in Parser::new(0).parse_all(&adapter) {
            match payload.unwrap() {
                Payload::ExportSection(reader) => {
                    exports.extend(reader.into_iter().map(|e| e.unwrap().name.to_string()))
                }
                Payload::ImportSection(reader) => imports += reader.count(),
                _ => {}
            }
        }
        assert_eq!(exports, ["fd_write", "proc_exit"]);
        assert_eq!(imports, 0);
    }

    #[test]
    fn stubs_trap_except_fd_prestat_get() {
        let module = wat::parse_str(
            r#"(module
                 (import "wasi_snapshot_preview1" "fd_prestat_get" (func (param i32 i32) (result i32)))
                 (import "wasi_snapshot_preview1" "clock_time_get" (func (param i32 i64 i32) (result i32))))"#,
        )
        .unwrap();
        let adapter = stub_adapter(&module).unwrap();
        let engine = wasmtime::Engine::default();
        let adapter = wasmtime::Module::new(&engine, &adapter).unwrap();
        let mut store = wasmtime::Store::new(&engine, ());
        let instance = wasmtime::Instance::new(&mut store, &adapter, &[]).unwrap();
        let prestat = instance
            .get_typed_func::<(i32, i32), i32>(&mut store, "fd_prestat_get")
            .unwrap();
        assert_eq!(prestat.call(&mut store, (3, 0)).unwrap(), 8);
        let clock = instance
            .get_typed_func::<(i32, i64, i32), i32>(&mut store, "clock_time_get")
            .unwrap();
        let error = wasmtime::Error::from(clock.call(&mut store, (0, 0, 0)).unwrap_err());
        let error = anyhow::Error::from(error);
        assert_eq!(stub_trap(&error).as_deref(), Some("clock_time_get"), "{error:?}");
    }

    #[test]
    fn refuses_a_wasi_memory_import() {
        let module = wat::parse_str(r#"(module (import "wasi_snapshot_preview1" "m" (memory 1)))"#).unwrap();
        let error = stub_adapter(&module).unwrap_err().to_string();
        assert!(error.contains("not a function"), "{error}");
    }
}
