//! Upstream componentize-py 0.25.1's own test app, unmodified: the Python
//! app of its Rust test suite (`src/test/python_source/` of its sdist, with
//! the SDK-style packages `foo_sdk` and `bar_sdk` beside it and the world
//! `src/test/wit/tests.wit`), built by the real binary with the options of
//! upstream's test harness (`make_component` in its `src/test.rs`), and run
//! by a Rust host written here (Wasmtime's component API with dynamic
//! `Val`s) that answers the imports as upstream's `src/test/tests.rs` does
//! and asserts the same results. The files come from upstream's sdist
//! (`common::upstream_sdist`); none is kept in this repository.
//!
//! Upstream's harness writes the world to `app.wit` and the app's files to
//! a temporary folder, and builds with world `componentize-py:test/tests`,
//! world module `tests`, Python path `src/test` and that folder, and the
//! module worlds `foo_sdk=foo:sdk/foo-world`, `bar_sdk=bar:sdk/bar-world`;
//! [`component`] does the same on our command line. Each test names the
//! upstream test (a `#[test]` of `src/test/tests.rs`) it mirrors; the
//! `_with_delay` variants of the stream tests are the same calls with a host
//! that waits before each read and write.
//!
//! Not mirrored: upstream's `echoes.rs` (property tests of the world
//! `echoes-test`, whose Python app upstream generates at build time with its
//! `test-generator` crate; `tests/roundtrip.rs` is ours of the same kind).

use anyhow::{anyhow, Context as _, Result};
use componentize_py::capabilities::{Capabilities, Preopen};
use componentize_py::run;
use std::collections::BTreeMap;
use std::future::Future;
use std::ops::DerefMut;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::Poll;
use std::time::Duration;
use wasmtime::component::{
    Accessor, Component, Func, FutureReader, Instance, Linker, Resource, ResourceAny, ResourceType,
    StreamReader, Val,
};
use wasmtime::{Store, StoreContextMut};

mod common;
use common::{componentize_py, copy_dir, text, upstream_sdist};
use common::streams::{pause, until, AllAtOnce, Collect, Keep};

fn any(error: impl std::fmt::Debug) -> anyhow::Error {
    anyhow!("{error:?}")
}

// ------------------------------------------------------------------ build

/// The app's files as upstream's harness lays them out: `src/test` (a copy
/// of the sdist's, with `foo_sdk/` and `bar_sdk/`) and, in `app/`, the
/// world as `app.wit` and the files of `src/test/python_source/`.
fn lay_out(work: &Path) -> PathBuf {
    let sdist = upstream_sdist();
    let test = work.join("src/test");
    copy_dir(&sdist.join("src/test"), &test);
    let app = work.join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::copy(test.join("wit/tests.wit"), app.join("app.wit")).unwrap();
    for entry in std::fs::read_dir(test.join("python_source")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), app.join(entry.file_name())).unwrap();
    }
    app
}

/// Build `args` in `work`; the build must succeed with upstream's console
/// output.
fn build(work: &Path, args: &[&str]) {
    let output = componentize_py(work, args);
    assert!(output.status.success(), "build failed: {}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "Component built successfully\n");
}

/// Upstream's test component (`TESTER` of its `tests.rs`), built once for
/// all tests of this file, and the engine that runs it.
fn component() -> &'static (Component, wasmtime::Engine) {
    static BUILT: OnceLock<(Component, wasmtime::Engine)> = OnceLock::new();
    BUILT.get_or_init(|| {
        let work = tempfile::tempdir().unwrap();
        lay_out(work.path());
        build(
            work.path(),
            &[
                "-d", "app/app.wit", "-w", "componentize-py:test/tests", "--world-module", "tests",
                "componentize", "-p", "src/test", "-p", "app",
                "-m", "foo_sdk=foo:sdk/foo-world", "-m", "bar_sdk=bar:sdk/bar-world",
                "app", "-o", "app/app.wasm",
            ],
        );
        let wasm = work.path().join("app/app.wasm");
        assert!(run::uses_async(&std::fs::read(&wasm).unwrap()));
        let engine = run::engine_for(&run::Limits::default(), true).unwrap();
        let component = run::load(&engine, &wasm).unwrap();
        (component, engine)
    })
}

// ------------------------------------------------------------------ host

/// Marker types of the host's resources, by what they hold (as upstream's
/// host maps them: `ThingU32`, `ThingList`, `ThingString`, `MyFloat`).
struct ThingU32;
struct ThingList;
struct ThingString;
struct MyFloat;

/// What a host resource holds.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    U32(u32),
    Bytes(Vec<u8>),
    Text(String),
    Float(f64),
}

/// The host's resources: rep -> value, while a handle lives (the
/// destructors remove them).
#[derive(Default)]
struct Table {
    next: u32,
    live: BTreeMap<u32, Value>,
}

impl Table {
    fn insert(&mut self, value: Value) -> u32 {
        self.next += 1;
        self.live.insert(self.next, value);
        self.next
    }

    fn get(&self, rep: u32) -> wasmtime::Result<Value> {
        self.live.get(&rep).cloned().ok_or_else(|| wasmtime::format_err!("no host resource {rep}"))
    }
}

type Shared = Arc<Mutex<Table>>;

/// A new host resource of marker type `T` holding `value`.
fn push<T: 'static>(store: impl wasmtime::AsContextMut, table: &Shared, value: Value) -> wasmtime::Result<Val> {
    let rep = table.lock().unwrap().insert(value);
    Ok(Val::Resource(Resource::<T>::new_own(rep).try_into_resource_any(store)?))
}

/// The rep of a host resource handle (own or borrowed) of marker type `T`.
fn rep<T: 'static>(store: impl wasmtime::AsContextMut, val: &Val) -> wasmtime::Result<u32> {
    let Val::Resource(handle) = val else { wasmtime::bail!("not a resource: {val:?}") };
    Ok(handle.try_into_resource::<T>(store)?.rep())
}

fn u32_of(val: &Val) -> wasmtime::Result<u32> {
    let Val::U32(v) = val else { wasmtime::bail!("not a u32: {val:?}") };
    Ok(*v)
}

fn f64_of(val: &Val) -> wasmtime::Result<f64> {
    let Val::Float64(v) = val else { wasmtime::bail!("not an f64: {val:?}") };
    Ok(*v)
}

fn string_of(val: &Val) -> wasmtime::Result<String> {
    let Val::String(v) = val else { wasmtime::bail!("not a string: {val:?}") };
    Ok(v.clone())
}

fn bytes_of(val: &Val) -> wasmtime::Result<Vec<u8>> {
    let Val::List(items) = val else { wasmtime::bail!("not a list: {val:?}") };
    items
        .iter()
        .map(|item| match item {
            Val::U8(b) => Ok(*b),
            other => Err(wasmtime::format_err!("not a u8: {other:?}")),
        })
        .collect()
}

fn bytes(data: &[u8]) -> Val {
    Val::List(data.iter().map(|b| Val::U8(*b)).collect())
}

/// The field `name` of a record value.
fn field<'a>(val: &'a Val, name: &str) -> wasmtime::Result<&'a Val> {
    let Val::Record(fields) = val else { wasmtime::bail!("not a record: {val:?}") };
    fields
        .iter()
        .find(|(field, _)| field == name)
        .map(|(_, value)| value)
        .ok_or_else(|| wasmtime::format_err!("no field `{name}` in {val:?}"))
}

type HostFn = Box<dyn Fn(StoreContextMut<'_, run::Host>, &[Val]) -> wasmtime::Result<Vec<Val>> + Send + Sync>;

/// An interface of host functions (`func_new`) and resources.
struct Interface {
    name: Option<&'static str>,
    resources: Vec<(&'static str, ResourceType)>,
    funcs: Vec<(&'static str, HostFn)>,
}

impl Interface {
    fn new(name: Option<&'static str>) -> Self {
        Interface { name, resources: Vec::new(), funcs: Vec::new() }
    }

    /// A host resource `name` of marker type `T`; its destructor removes
    /// the value from the table.
    fn resource<T: 'static>(mut self, name: &'static str) -> Self {
        self.resources.push((name, ResourceType::host::<T>()));
        self
    }

    fn func(
        mut self,
        name: &'static str,
        f: impl Fn(StoreContextMut<'_, run::Host>, &[Val]) -> wasmtime::Result<Vec<Val>> + Send + Sync + 'static,
    ) -> Self {
        self.funcs.push((name, Box::new(f)));
        self
    }

    fn define(self, linker: &mut Linker<run::Host>, table: &Shared) -> Result<()> {
        let mut root = linker.root();
        let mut scope = match self.name {
            Some(name) => root.instance(name).map_err(any)?,
            None => root,
        };
        for (name, ty) in self.resources {
            let table = table.clone();
            scope
                .resource(name, ty, move |_, rep| {
                    table
                        .lock()
                        .unwrap()
                        .live
                        .remove(&rep)
                        .map(|_| ())
                        .ok_or_else(|| wasmtime::format_err!("host resource {rep} dropped twice"))
                })
                .map_err(any)?;
        }
        for (name, f) in self.funcs {
            scope
                .func_new(name, move |store, _ty, params, results| {
                    for (slot, value) in results.iter_mut().zip(f(store, params)?) {
                        *slot = value;
                    }
                    Ok(())
                })
                .map_err(any)
                .with_context(|| format!("defining `{name}`"))?;
        }
        Ok(())
    }
}

/// How long upstream's async host functions wait (its `DELAY`).
const DELAY: Duration = Duration::from_millis(100);

/// A linker with WASI and every import of the test component, answered as
/// upstream's `tests.rs` answers them (the arithmetic of each host
/// function is what its assertions add up), the host resources kept in
/// `table`.
fn linker(engine: &wasmtime::Engine, table: &Shared) -> Result<Linker<run::Host>> {
    let mut linker: Linker<run::Host> = run::linker(engine)?;
    let mut interfaces = vec![
        Interface::new(Some("componentize-py:test/simple-import-and-export"))
            .func("foo", |_, p| Ok(vec![Val::U32(u32_of(&p[0])? + 2)])),
        host_resource_import_and_export(table),
        host_resource_borrow_import(table),
        host_resource_with_lists(table),
        host_resource_aggregates(table),
        host_resource_borrow_in_record(table),
        Interface::new(Some("foo:sdk/foo-interface"))
            .func("test", |_, p| Ok(vec![Val::String(format!("{} HostFoo::test", string_of(&p[0])?))])),
        // Only `multiworld_intersect`'s component imports it.
        Interface::new(Some("foo:sdk/foo-interface2"))
            .func("test", |_, p| Ok(vec![Val::String(format!("{} HostFoo2::test", string_of(&p[0])?))])),
        Interface::new(None).func("output", |_, p| wasmtime::bail!("`output` is never called: {p:?}")),
    ];
    interfaces.extend(host_resource_alias(table));
    interfaces.extend(host_resource_floats(table));
    for interface in interfaces {
        interface.define(&mut linker, table)?;
    }

    // `get-bytes` is typed: `test-refcounts` asks for 5 GiB in 1 MiB
    // lists, which as one `Val` per byte would take minutes.
    linker
        .root()
        .func_wrap("get-bytes", |_, (count,): (u32,)| Ok((vec![42u8; count as usize],)))
        .map_err(any)?;

    // The async imports: they complete later, on tokio timers.
    linker
        .root()
        .func_new_concurrent("sleep", |_, _, params, _| {
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(u64::from(u32_of(&params[0])?))).await;
                Ok(())
            })
        })
        .map_err(any)?;
    linker
        .instance("componentize-py:test/simple-async-import-and-export")
        .map_err(any)?
        .func_new_concurrent("foo", |_, _, params, results| {
            Box::pin(async move {
                tokio::time::sleep(DELAY).await;
                results[0] = Val::U32(u32_of(&params[0])? + 2);
                Ok(())
            })
        })
        .map_err(any)?;
    let mut host_things = linker.instance("componentize-py:test/host-thing-interface").map_err(any)?;
    let dtor = table.clone();
    host_things
        .resource("host-thing", ResourceType::host::<ThingString>(), move |_, rep| {
            dtor.lock().unwrap().live.remove(&rep);
            Ok(())
        })
        .map_err(any)?;
    let new = table.clone();
    host_things
        .func_new("[constructor]host-thing", move |store, _, params, results| {
            results[0] = push::<ThingString>(store, &new, Value::Text(string_of(&params[0])?))?;
            Ok(())
        })
        .map_err(any)?;
    let get = table.clone();
    host_things
        .func_new_concurrent("[method]host-thing.get", move |accessor: &Accessor<run::Host>, _, params, results| {
            let get = get.clone();
            Box::pin(async move {
                let rep = accessor.with(|mut access| rep::<ThingString>(&mut access, &params[0]))?;
                let Value::Text(text) = get.lock().unwrap().get(rep)? else { wasmtime::bail!("not a text") };
                results[0] = Val::String(text);
                Ok(())
            })
        })
        .map_err(any)?;
    Ok(linker)
}

/// The value of host resource `val` (marker type `T`); an owned handle
/// (the guest gave it to the host) is the host's to drop, so its value
/// leaves the table.
fn value_of<T: 'static>(mut store: impl wasmtime::AsContextMut, table: &Shared, val: &Val) -> wasmtime::Result<Value> {
    let Val::Resource(handle) = val else { wasmtime::bail!("not a resource: {val:?}") };
    let owned = handle.owned();
    let rep = handle.try_into_resource::<T>(&mut store)?.rep();
    let mut table = table.lock().unwrap();
    if owned {
        table.live.remove(&rep).ok_or_else(|| wasmtime::format_err!("no host resource {rep}"))
    } else {
        table.get(rep)
    }
}

fn u32_value<T: 'static>(store: impl wasmtime::AsContextMut, table: &Shared, val: &Val) -> wasmtime::Result<u32> {
    match value_of::<T>(store, table, val)? {
        Value::U32(v) => Ok(v),
        other => wasmtime::bail!("not a u32 thing: {other:?}"),
    }
}

fn text_value<T: 'static>(store: impl wasmtime::AsContextMut, table: &Shared, val: &Val) -> wasmtime::Result<String> {
    match value_of::<T>(store, table, val)? {
        Value::Text(v) => Ok(v),
        other => wasmtime::bail!("not a string thing: {other:?}"),
    }
}

fn float_value(store: impl wasmtime::AsContextMut, table: &Shared, val: &Val) -> wasmtime::Result<f64> {
    match value_of::<MyFloat>(store, table, val)? {
        Value::Float(v) => Ok(v),
        other => wasmtime::bail!("not a float: {other:?}"),
    }
}

/// Set the value of the host resource behind the borrowed handle `val`.
fn set_value<T: 'static>(store: impl wasmtime::AsContextMut, table: &Shared, val: &Val, value: Value) -> wasmtime::Result<()> {
    let rep = rep::<T>(store, val)?;
    let mut table = table.lock().unwrap();
    let slot = table.live.get_mut(&rep).ok_or_else(|| wasmtime::format_err!("no host resource {rep}"))?;
    *slot = value;
    Ok(())
}

/// `componentize-py:test/resource-import-and-export` (upstream's
/// `resource_import_and_export`).
fn host_resource_import_and_export(table: &Shared) -> Interface {
    let (new, foo, bar, baz) = (table.clone(), table.clone(), table.clone(), table.clone());
    Interface::new(Some("componentize-py:test/resource-import-and-export"))
        .resource::<ThingU32>("thing")
        .func("[constructor]thing", move |store, p| {
            Ok(vec![push::<ThingU32>(store, &new, Value::U32(u32_of(&p[0])? + 8))?])
        })
        .func("[method]thing.foo", move |store, p| Ok(vec![Val::U32(u32_value::<ThingU32>(store, &foo, &p[0])? + 1)]))
        .func("[method]thing.bar", move |store, p| {
            set_value::<ThingU32>(store, &bar, &p[0], Value::U32(u32_of(&p[1])? + 5))?;
            Ok(vec![])
        })
        .func("[static]thing.baz", move |mut store, p| {
            let a = u32_value::<ThingU32>(&mut store, &baz, &p[0])?;
            let b = u32_value::<ThingU32>(&mut store, &baz, &p[1])?;
            Ok(vec![push::<ThingU32>(store, &baz, Value::U32(a + b + 6))?])
        })
}

/// `componentize-py:test/resource-borrow-import` (upstream's
/// `resource_borrow_import`).
fn host_resource_borrow_import(table: &Shared) -> Interface {
    let (new, foo) = (table.clone(), table.clone());
    Interface::new(Some("componentize-py:test/resource-borrow-import"))
        .resource::<ThingU32>("thing")
        .func("[constructor]thing", move |store, p| {
            Ok(vec![push::<ThingU32>(store, &new, Value::U32(u32_of(&p[0])? + 2))?])
        })
        .func("foo", move |store, p| Ok(vec![Val::U32(u32_value::<ThingU32>(store, &foo, &p[0])? + 3)]))
}

/// `bytes` followed by `suffix`.
fn with_suffix(mut bytes: Vec<u8>, suffix: &str) -> Vec<u8> {
    bytes.extend_from_slice(suffix.as_bytes());
    bytes
}

/// `componentize-py:test/resource-with-lists` (upstream's
/// `resource_with_lists`).
fn host_resource_with_lists(table: &Shared) -> Interface {
    let (new, foo, bar) = (table.clone(), table.clone(), table.clone());
    Interface::new(Some("componentize-py:test/resource-with-lists"))
        .resource::<ThingList>("thing")
        .func("[constructor]thing", move |store, p| {
            let value = with_suffix(bytes_of(&p[0])?, " HostThing.new");
            Ok(vec![push::<ThingList>(store, &new, Value::Bytes(value))?])
        })
        .func("[method]thing.foo", move |store, p| {
            let Value::Bytes(value) = value_of::<ThingList>(store, &foo, &p[0])? else { wasmtime::bail!("not bytes") };
            Ok(vec![bytes(&with_suffix(value, " HostThing.foo"))])
        })
        .func("[method]thing.bar", move |store, p| {
            let value = with_suffix(bytes_of(&p[1])?, " HostThing.bar");
            set_value::<ThingList>(store, &bar, &p[0], Value::Bytes(value))?;
            Ok(vec![])
        })
        .func("[static]thing.baz", |_, p| Ok(vec![bytes(&with_suffix(bytes_of(&p[0])?, " HostThing.baz"))]))
}

/// The sum of the values of every `ThingU32` handle inside `val` (records,
/// tuples, variants, lists, options, results), as upstream's host adds up
/// the 13 parameters of `resource-aggregates#foo`.
fn sum_things(store: &mut StoreContextMut<'_, run::Host>, table: &Shared, val: &Val) -> wasmtime::Result<u32> {
    let mut sum = 0;
    match val {
        Val::Resource(_) => sum += u32_value::<ThingU32>(&mut *store, table, val)?,
        Val::Record(fields) => {
            for (_, value) in fields {
                sum += sum_things(store, table, value)?;
            }
        }
        Val::Tuple(items) | Val::List(items) => {
            for item in items {
                sum += sum_things(store, table, item)?;
            }
        }
        Val::Variant(_, Some(payload)) | Val::Option(Some(payload)) => sum += sum_things(store, table, payload)?,
        Val::Result(Ok(Some(payload)) | Err(Some(payload))) => sum += sum_things(store, table, payload)?,
        Val::Variant(_, None) | Val::Option(None) | Val::Result(_) => {}
        other => wasmtime::bail!("unexpected value {other:?}"),
    }
    Ok(sum)
}

/// `componentize-py:test/resource-aggregates` (upstream's
/// `resource_aggregates`).
fn host_resource_aggregates(table: &Shared) -> Interface {
    let (new, foo) = (table.clone(), table.clone());
    Interface::new(Some("componentize-py:test/resource-aggregates"))
        .resource::<ThingU32>("thing")
        .func("[constructor]thing", move |store, p| {
            Ok(vec![push::<ThingU32>(store, &new, Value::U32(u32_of(&p[0])? + 2))?])
        })
        .func("foo", move |mut store, p| {
            if p.len() != 13 {
                wasmtime::bail!("`foo` takes 13 parameters, got {}", p.len());
            }
            let mut sum = 3;
            for param in p {
                sum += sum_things(&mut store, &foo, param)?;
            }
            Ok(vec![Val::U32(sum)])
        })
}

/// `componentize-py:test/resource-alias1` and `resource-alias2` (upstream's
/// `resource_alias`): the imported `thing` is a string.
fn host_resource_alias(table: &Shared) -> Vec<Interface> {
    let (new, get) = (table.clone(), table.clone());
    vec![
        Interface::new(Some("componentize-py:test/resource-alias1"))
            .resource::<ThingString>("thing")
            .func("[constructor]thing", move |store, p| {
                let value = format!("{} HostThing::new", string_of(&p[0])?);
                Ok(vec![push::<ThingString>(store, &new, Value::Text(value))?])
            })
            .func("[method]thing.get", move |store, p| {
                Ok(vec![Val::String(format!("{} HostThing.get", text_value::<ThingString>(store, &get, &p[0])?))])
            })
            .func("a", |_, p| Ok(vec![Val::List(vec![field(&p[0], "thing")?.clone()])])),
        Interface::new(Some("componentize-py:test/resource-alias2")).func("b", |_, p| {
            Ok(vec![Val::List(vec![field(&p[0], "thing")?.clone(), field(&p[1], "thing")?.clone()])])
        }),
    ]
}

/// `componentize-py:test/resource-floats` and the world's
/// `resource-floats-imports` (upstream's `resource_floats`).
fn host_resource_floats(table: &Shared) -> Vec<Interface> {
    let (new1, get1, new2, get2, add) = (table.clone(), table.clone(), table.clone(), table.clone(), table.clone());
    vec![
        Interface::new(Some("componentize-py:test/resource-floats"))
            .resource::<MyFloat>("float")
            .func("[constructor]float", move |store, p| {
                Ok(vec![push::<MyFloat>(store, &new1, Value::Float(f64_of(&p[0])? + 1.0))?])
            })
            .func("[method]float.get", move |store, p| Ok(vec![Val::Float64(float_value(store, &get1, &p[0])? + 3.0)])),
        Interface::new(Some("resource-floats-imports"))
            .resource::<MyFloat>("float")
            .func("[constructor]float", move |store, p| {
                Ok(vec![push::<MyFloat>(store, &new2, Value::Float(f64_of(&p[0])? + 2.0))?])
            })
            .func("[method]float.get", move |store, p| Ok(vec![Val::Float64(float_value(store, &get2, &p[0])? + 4.0)]))
            .func("[static]float.add", move |mut store, p| {
                let a = float_value(&mut store, &add, &p[0])?;
                Ok(vec![push::<MyFloat>(store, &add, Value::Float(a + f64_of(&p[1])? + 6.0))?])
            }),
    ]
}

/// `componentize-py:test/resource-borrow-in-record` (upstream's
/// `resource_borrow_in_record`).
fn host_resource_borrow_in_record(table: &Shared) -> Interface {
    let (new, get, test) = (table.clone(), table.clone(), table.clone());
    Interface::new(Some("componentize-py:test/resource-borrow-in-record"))
        .resource::<ThingString>("thing")
        .func("[constructor]thing", move |store, p| {
            let value = format!("{} HostThing::new", string_of(&p[0])?);
            Ok(vec![push::<ThingString>(store, &new, Value::Text(value))?])
        })
        .func("[method]thing.get", move |store, p| {
            Ok(vec![Val::String(format!("{} HostThing.get", text_value::<ThingString>(store, &get, &p[0])?))])
        })
        .func("test", move |mut store, p| {
            let Val::List(foos) = &p[0] else { wasmtime::bail!("not a list: {p:?}") };
            let mut things = Vec::new();
            for foo in foos {
                let value = text_value::<ThingString>(&mut store, &test, field(foo, "thing")?)?;
                things.push(push::<ThingString>(&mut store, &test, Value::Text(format!("{value} HostThing::test")))?);
            }
            Ok(vec![Val::List(things)])
        })
}

// ------------------------------------------------------------------ guest

/// An instance of the test component in a store of its own (upstream's
/// `Tester::test` instantiates anew for each test too).
struct Guest {
    store: Store<run::Host>,
    instance: Instance,
    table: Shared,
}

impl Guest {
    async fn new() -> Result<Guest> {
        Guest::with_capabilities(&Capabilities::default()).await
    }

    async fn with_capabilities(capabilities: &Capabilities) -> Result<Guest> {
        let (component, engine) = component();
        let table = Shared::default();
        let linker = linker(engine, &table)?;
        let mut store = run::store_granting(engine, &[], &run::Limits::default(), capabilities)?;
        let instance = linker.instantiate_async(&mut store, component).await.map_err(any)?;
        Ok(Guest { store, instance, table })
    }

    /// Export `name` of `interface` (None: of the world).
    fn func(&mut self, interface: Option<&str>, name: &str) -> Result<Func> {
        let scope = match interface {
            Some(interface) => Some(
                self.instance
                    .get_export_index(&mut self.store, None, interface)
                    .with_context(|| format!("no exported instance named `{interface}`"))?,
            ),
            None => None,
        };
        let index = self
            .instance
            .get_export_index(&mut self.store, scope.as_ref(), name)
            .with_context(|| format!("no export `{name}`"))?;
        self.instance.get_func(&mut self.store, index).with_context(|| format!("`{name}` is not a function"))
    }

    /// Call a sync export; returns its result (`Val::Bool(false)` for none).
    async fn call(&mut self, interface: Option<&str>, name: &str, params: &[Val]) -> Result<Val> {
        let func = self.func(interface, name)?;
        let mut results = vec![Val::Bool(false); func.ty(&self.store).results().len()];
        func.call_async(&mut self.store, params, &mut results)
            .await
            .map_err(any)
            .with_context(|| format!("calling `{name}`"))?;
        Ok(results.into_iter().next().unwrap_or(Val::Bool(false)))
    }

    /// Call an async export (in `run_concurrent`).
    async fn call_concurrent(&mut self, interface: Option<&str>, name: &str, params: Vec<Val>) -> Result<Val> {
        let func = self.func(interface, name)?;
        let count = func.ty(&self.store).results().len();
        self.store
            .run_concurrent(async move |accessor| -> wasmtime::Result<Val> {
                let mut results = vec![Val::Bool(false); count];
                func.call_concurrent(accessor, &params, &mut results).await?;
                Ok(results.into_iter().next().unwrap_or(Val::Bool(false)))
            })
            .await
            .map_err(any)?
            .map_err(any)
    }

    /// The value of the host resource behind `val`, which the guest gave
    /// the host.
    fn host_value<T: 'static>(&mut self, val: &Val) -> Result<Value> {
        value_of::<T>(&mut self.store, &self.table, val).map_err(any)
    }

    /// A new host resource, for the host to give the guest.
    fn host_resource<T: 'static>(&mut self, value: Value) -> Result<Val> {
        push::<T>(&mut self.store, &self.table, value).map_err(any)
    }
}

fn resource(val: &Val) -> ResourceAny {
    match val {
        Val::Resource(handle) => *handle,
        other => panic!("not a resource: {other:?}"),
    }
}

fn list(val: Val) -> Vec<Val> {
    match val {
        Val::List(items) => items,
        other => panic!("not a list: {other:?}"),
    }
}

fn record(fields: &[(&str, Val)]) -> Val {
    Val::Record(fields.iter().map(|(name, value)| (name.to_string(), value.clone())).collect())
}

// ------------------------------------------------------------------ tests

const SIMPLE_EXPORT: &str = "componentize-py:test/simple-export";

/// Upstream's `simple_export`.
#[tokio::test(flavor = "current_thread")]
async fn simple_export() -> Result<()> {
    let mut guest = Guest::new().await?;
    assert_eq!(guest.call(Some(SIMPLE_EXPORT), "foo", &[Val::U32(42)]).await?, Val::U32(42 + 3));
    Ok(())
}

/// Upstream's `simple_async_export`.
#[tokio::test(flavor = "current_thread")]
async fn simple_async_export() -> Result<()> {
    let mut guest = Guest::new().await?;
    let result = guest.call_concurrent(Some("componentize-py:test/simple-async-export"), "foo", vec![Val::U32(42)]).await?;
    assert_eq!(result, Val::U32(42 + 3));
    Ok(())
}

/// Upstream's `simple_import_and_export`.
#[tokio::test(flavor = "current_thread")]
async fn simple_import_and_export() -> Result<()> {
    let mut guest = Guest::new().await?;
    let result = guest.call(Some("componentize-py:test/simple-import-and-export"), "foo", &[Val::U32(42)]).await?;
    assert_eq!(result, Val::U32(42 + 2 + 3));
    Ok(())
}

/// Upstream's `simple_async_import_and_export`: the host's import answers
/// 100 ms later.
#[tokio::test(flavor = "current_thread")]
async fn simple_async_import_and_export() -> Result<()> {
    let mut guest = Guest::new().await?;
    let start = std::time::Instant::now();
    let result = guest
        .call_concurrent(Some("componentize-py:test/simple-async-import-and-export"), "foo", vec![Val::U32(42)])
        .await?;
    assert_eq!(result, Val::U32(42 + 2 + 3));
    assert!(start.elapsed() >= DELAY, "the export returned before the import did");
    Ok(())
}

/// Upstream's `resource_import_and_export`.
#[tokio::test(flavor = "current_thread")]
async fn resource_import_and_export() -> Result<()> {
    const IFACE: Option<&str> = Some("componentize-py:test/resource-import-and-export");
    let mut guest = Guest::new().await?;
    let thing1 = guest.call(IFACE, "[constructor]thing", &[Val::U32(42)]).await?;
    assert_eq!(guest.call(IFACE, "[method]thing.foo", &[thing1.clone()]).await?, Val::U32(42 + 7 + 8 + 3 + 1));
    guest.call(IFACE, "[method]thing.bar", &[thing1.clone(), Val::U32(33)]).await?;
    assert_eq!(guest.call(IFACE, "[method]thing.foo", &[thing1.clone()]).await?, Val::U32(33 + 4 + 5 + 3 + 1));
    let thing2 = guest.call(IFACE, "[constructor]thing", &[Val::U32(81)]).await?;
    let thing3 = guest.call(IFACE, "[static]thing.baz", &[thing1, thing2]).await?;
    assert_eq!(
        guest.call(IFACE, "[method]thing.foo", &[thing3.clone()]).await?,
        Val::U32(33 + 4 + 5 + 81 + 7 + 8 + 6 + 1 + 9 + 7 + 8 + 3 + 1)
    );
    resource(&thing3).resource_drop_async(&mut guest.store).await.map_err(any)?;
    Ok(())
}

/// Upstream's `refcounts`: the guest takes 5 GiB from the host in 1 MiB
/// lists, which must not run out of memory.
#[tokio::test(flavor = "current_thread")]
async fn refcounts() -> Result<()> {
    let mut guest = Guest::new().await?;
    guest.call(None, "test-refcounts", &[]).await?;
    Ok(())
}

/// Upstream's `resource_borrow_import`.
#[tokio::test(flavor = "current_thread")]
async fn resource_borrow_import() -> Result<()> {
    let mut guest = Guest::new().await?;
    let result = guest.call(None, "test-resource-borrow-import", &[Val::U32(42)]).await?;
    assert_eq!(result, Val::U32(42 + 1 + 2 + 3 + 4));
    // The guest dropped the thing it made after lending it.
    assert!(guest.table.lock().unwrap().live.is_empty());
    Ok(())
}

/// Upstream's `resource_borrow_export`.
#[tokio::test(flavor = "current_thread")]
async fn resource_borrow_export() -> Result<()> {
    const IFACE: Option<&str> = Some("componentize-py:test/resource-borrow-export");
    let mut guest = Guest::new().await?;
    let thing1 = guest.call(IFACE, "[constructor]thing", &[Val::U32(42)]).await?;
    assert_eq!(guest.call(IFACE, "foo", &[thing1.clone()]).await?, Val::U32(42 + 1 + 2));
    resource(&thing1).resource_drop_async(&mut guest.store).await.map_err(any)?;
    Ok(())
}

/// Upstream's `resource_with_lists`.
#[tokio::test(flavor = "current_thread")]
async fn resource_with_lists() -> Result<()> {
    const IFACE: Option<&str> = Some("componentize-py:test/resource-with-lists");
    let mut guest = Guest::new().await?;
    let thing1 = guest.call(IFACE, "[constructor]thing", &[bytes(b"Hi")]).await?;
    let foo = guest.call(IFACE, "[method]thing.foo", &[thing1.clone()]).await?;
    assert_eq!(text(&bytes_of(&foo).map_err(any)?), "Hi Thing.__init__ HostThing.new HostThing.foo Thing.foo");
    guest.call(IFACE, "[method]thing.bar", &[thing1.clone(), bytes(b"Hola")]).await?;
    let foo = guest.call(IFACE, "[method]thing.foo", &[thing1.clone()]).await?;
    assert_eq!(text(&bytes_of(&foo).map_err(any)?), "Hola Thing.bar HostThing.bar HostThing.foo Thing.foo");
    let baz = guest.call(IFACE, "[static]thing.baz", &[bytes(b"Ohayo Gozaimas")]).await?;
    assert_eq!(
        text(&bytes_of(&baz).map_err(any)?),
        "Ohayo Gozaimas Thing.baz HostThing.baz Thing.baz again"
    );
    resource(&thing1).resource_drop_async(&mut guest.store).await.map_err(any)?;
    // The guest's thing held the host's; dropping it dropped that too.
    assert!(guest.table.lock().unwrap().live.is_empty());
    Ok(())
}

/// Upstream's `resource_aggregates`: 17 exported things passed in records,
/// tuples, variants, lists, options and results, owned and borrowed; the
/// guest passes host things in the same shapes to the import.
#[tokio::test(flavor = "current_thread")]
async fn resource_aggregates() -> Result<()> {
    const IFACE: Option<&str> = Some("componentize-py:test/resource-aggregates");
    let mut guest = Guest::new().await?;
    let mut things = Vec::new();
    for n in 1..18 {
        things.push(guest.call(IFACE, "[constructor]thing", &[Val::U32(n)]).await?);
    }
    let t = |i: usize| things[i].clone();
    let boxed = |val: Val| Some(Box::new(val));
    let params = [
        record(&[("thing", t(0))]),
        record(&[("thing", t(1))]),
        record(&[("thing1", t(2)), ("thing2", t(3))]),
        Val::Tuple(vec![t(4), record(&[("thing", t(5))])]),
        Val::Tuple(vec![t(6)]),
        Val::Variant("thing".into(), boxed(t(7))),
        Val::Variant("thing".into(), boxed(t(8))),
        Val::List(vec![t(9), t(10)]),
        Val::List(vec![t(11), t(12)]),
        Val::Option(boxed(t(13))),
        Val::Option(boxed(t(14))),
        Val::Result(Ok(boxed(t(15)))),
        Val::Result(Ok(boxed(t(16)))),
    ];
    let result = guest.call(IFACE, "foo", &params).await?;
    assert_eq!(result, Val::U32((1..18).map(|n| n + 1 + 2).sum::<u32>() + 3 + 4));
    Ok(())
}

/// Upstream's `resource_alias`: the world's `test-resource-alias` gives
/// back the host's things; `resource-alias1#a` and `resource-alias2#b`
/// (whose `foo` and `bar` are records of the same `thing`) wrap what the
/// host's `a` and `b` return.
#[tokio::test(flavor = "current_thread")]
async fn resource_alias() -> Result<()> {
    const ALIAS1: Option<&str> = Some("componentize-py:test/resource-alias1");
    const ALIAS2: Option<&str> = Some("componentize-py:test/resource-alias2");
    let mut guest = Guest::new().await?;
    let thing1 = guest.host_resource::<ThingString>(Value::Text("Ni Hao".into()))?;
    let things = list(guest.call(None, "test-resource-alias", &[Val::List(vec![thing1])]).await?);
    let values: Vec<Value> = things.iter().map(|thing| guest.host_value::<ThingString>(thing)).collect::<Result<_>>()?;
    assert_eq!(values, [Value::Text("Ni Hao".into())]);

    let thing1 = guest.call(ALIAS1, "[constructor]thing", &[Val::String("Ciao".into())]).await?;
    let things = list(guest.call(ALIAS1, "a", &[record(&[("thing", thing1)])]).await?);
    let mut strings = Vec::new();
    for thing in &things {
        strings.push(guest.call(ALIAS1, "[method]thing.get", &[thing.clone()]).await?);
    }
    assert_eq!(strings, [Val::String("Ciao Thing.__init__ HostThing::new HostThing.get Thing.get".into())]);

    let thing1 = guest.call(ALIAS1, "[constructor]thing", &[Val::String("Ciao".into())]).await?;
    let thing2 = guest.call(ALIAS1, "[constructor]thing", &[Val::String("Aloha".into())]).await?;
    let things = list(
        guest
            .call(ALIAS2, "b", &[record(&[("thing", thing1)]), record(&[("thing", thing2)])])
            .await?,
    );
    let mut strings = Vec::new();
    for thing in &things {
        strings.push(guest.call(ALIAS1, "[method]thing.get", &[thing.clone()]).await?);
    }
    assert_eq!(
        strings,
        [
            Val::String("Ciao Thing.__init__ HostThing::new HostThing.get Thing.get".into()),
            Val::String("Aloha Thing.__init__ HostThing::new HostThing.get Thing.get".into()),
        ]
    );
    Ok(())
}

/// Upstream's `resource_floats`: the world's `add` borrows two host floats
/// and returns a new one; the exported `resource-floats-exports#float`
/// wraps the imported `resource-floats-imports#float`.
#[tokio::test(flavor = "current_thread")]
async fn resource_floats() -> Result<()> {
    const EXPORTS: Option<&str> = Some("resource-floats-exports");
    let mut guest = Guest::new().await?;
    let float1 = guest.host_resource::<MyFloat>(Value::Float(42.0))?;
    let float2 = guest.host_resource::<MyFloat>(Value::Float(55.0))?;
    let sum = guest.call(None, "add", &[float1, float2]).await?;
    assert_eq!(guest.host_value::<MyFloat>(&sum)?, Value::Float(42.0 + 3.0 + 55.0 + 3.0 + 5.0 + 1.0));

    let float1 = guest.call(EXPORTS, "[constructor]float", &[Val::Float64(22.0)]).await?;
    assert_eq!(
        guest.call(EXPORTS, "[method]float.get", &[float1.clone()]).await?,
        Val::Float64(22.0 + 1.0 + 2.0 + 4.0 + 3.0)
    );
    let result = guest.call(EXPORTS, "[static]float.add", &[float1, Val::Float64(7.0)]).await?;
    assert_eq!(
        guest.call(EXPORTS, "[method]float.get", &[result]).await?,
        Val::Float64(22.0 + 1.0 + 2.0 + 7.0 + 6.0 + 4.0 + 5.0 + 1.0 + 2.0 + 4.0 + 3.0)
    );
    Ok(())
}

/// Upstream's `resource_borrow_in_record`.
#[tokio::test(flavor = "current_thread")]
async fn resource_borrow_in_record() -> Result<()> {
    const IFACE: Option<&str> = Some("componentize-py:test/resource-borrow-in-record");
    let mut guest = Guest::new().await?;
    let thing1 = guest.call(IFACE, "[constructor]thing", &[Val::String("Bonjour".into())]).await?;
    let thing2 = guest.call(IFACE, "[constructor]thing", &[Val::String("mon cher".into())]).await?;
    let foos = Val::List(vec![record(&[("thing", thing1)]), record(&[("thing", thing2)])]);
    let things = list(guest.call(IFACE, "test", &[foos]).await?);
    let mut strings = Vec::new();
    for thing in &things {
        strings.push(guest.call(IFACE, "[method]thing.get", &[thing.clone()]).await?);
    }
    assert_eq!(
        strings,
        [
            Val::String("Bonjour Thing.__init__ HostThing::new HostThing::test HostThing.get Thing.get".into()),
            Val::String("mon cher Thing.__init__ HostThing::new HostThing::test HostThing.get Thing.get".into()),
        ]
    );
    Ok(())
}

/// Upstream's `multiworld`: the component also exports the worlds of the
/// `foo_sdk` and `bar_sdk` packages (`-m`), whose apps' classes are in
/// `app.py`.
#[tokio::test(flavor = "current_thread")]
async fn multiworld() -> Result<()> {
    let mut guest = Guest::new().await?;
    let result = guest.call(Some("foo:sdk/foo-interface"), "test", &[Val::String("Howdy".into())]).await?;
    assert_eq!(result, Val::String("Howdy FooInterface.test HostFoo::test".into()));
    let result = guest.call(Some("bar:sdk/bar-interface"), "test", &[Val::String("Howdy".into())]).await?;
    assert_eq!(result, Val::String("Howdy BarInterface.test HostFoo::test".into()));
    Ok(())
}

/// Upstream's `filesystem`: `read-file` reads a file of a preopened folder
/// (`/`); ours also checks that a missing file comes back as `err` with
/// the Python traceback.
#[tokio::test(flavor = "current_thread")]
async fn filesystem() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let message = b"All mimsy were the borogoves";
    std::fs::write(dir.path().join("foo.txt"), message)?;
    let capabilities = Capabilities {
        dirs: vec![Preopen { host: dir.path().to_path_buf(), guest: "/".into() }],
        ..Capabilities::default()
    };
    let mut guest = Guest::with_capabilities(&capabilities).await?;
    let result = guest.call(None, "read-file", &[Val::String("foo.txt".into())]).await?;
    assert_eq!(result, Val::Result(Ok(Some(Box::new(bytes(message))))));
    let result = guest.call(None, "read-file", &[Val::String("missing.txt".into())]).await?;
    let Val::Result(Err(Some(error))) = result else { panic!("not an error: {result:?}") };
    let error = string_of(&error).map_err(any)?;
    assert!(error.contains("Traceback") && error.contains("FileNotFoundError"), "{error}");
    Ok(())
}

// ------------------------------------------------- streams and futures

const STREAMS: Option<&str> = Some("componentize-py:test/streams-and-futures");

/// Every future of `futures`, polled together (upstream dispatches its
/// `thing.get` calls concurrently).
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(|output| output.expect("polled to the end")).collect()
}

const JUBJUB: &str = "Beware the Jubjub bird; in uffish thought\n\tthe Jabberwock came whiffling";

/// Upstream's `echo_stream_u8` and `echo_stream_u8_with_delay`.
async fn echo_stream_u8(delay: bool) -> Result<()> {
    let mut guest = Guest::new().await?;
    let func = guest.func(STREAMS, "echo-stream-u8")?;
    let received = guest
        .store
        .run_concurrent(async move |accessor| -> wasmtime::Result<Vec<u8>> {
            let input = accessor.with(|mut access| {
                StreamReader::new(&mut access, AllAtOnce::new(JUBJUB.as_bytes().to_vec(), delay))?
                    .try_into_stream_any(&mut access)
            })?;
            let mut results = vec![Val::Bool(false)];
            func.call_concurrent(accessor, &[Val::Stream(input)], &mut results).await?;
            let Val::Stream(output) = results.remove(0) else { wasmtime::bail!("not a stream") };
            let (collect, items, done) = Collect::<u8>::new(usize::MAX, delay);
            accessor.with(|mut access| output.try_into_stream_reader::<u8>()?.pipe(&mut access, collect))?;
            until(&done).await?;
            let items = items.lock().unwrap().clone();
            Ok(items)
        })
        .await
        .map_err(any)?
        .map_err(any)?;
    assert_eq!(text(&received), JUBJUB);
    Ok(())
}

#[tokio::test(flavor = "current_thread")]
async fn echo_stream_u8_at_once() -> Result<()> {
    echo_stream_u8(false).await
}

#[tokio::test(flavor = "current_thread")]
async fn echo_stream_u8_with_delay() -> Result<()> {
    echo_stream_u8(true).await
}

/// Upstream's `test_similar_streams_and_futures`: `baz` returns streams and
/// futures of two structurally equal variants, made with the constructors
/// named after each (`similar_streams_and_futures_foo_stream`, ...).
#[tokio::test(flavor = "current_thread")]
async fn similar_streams_and_futures() -> Result<()> {
    let mut guest = Guest::new().await?;
    let func = guest.func(Some("componentize-py:test/similar-streams-and-futures"), "baz")?;
    guest
        .store
        .run_concurrent(async move |accessor| -> wasmtime::Result<()> {
            let mut results = vec![Val::Bool(false)];
            func.call_concurrent(accessor, &[], &mut results).await?;
            let Val::Tuple(items) = results.remove(0) else { wasmtime::bail!("not a tuple") };
            let [Val::Stream(mut s1), Val::Stream(mut s2), Val::Future(mut f1), Val::Future(mut f2)] =
                <[Val; 4]>::try_from(items).map_err(|items| wasmtime::format_err!("not 4 items: {items:?}"))?
            else {
                wasmtime::bail!("not two streams and two futures")
            };
            accessor.with(|mut access| -> wasmtime::Result<()> {
                s1.close(&mut access)?;
                s2.close(&mut access)?;
                f1.close(&mut access)?;
                f2.close(&mut access)?;
                Ok(())
            })
        })
        .await
        .map_err(any)?
        .map_err(any)?;
    Ok(())
}

/// Upstream's `echo_future_string` and `echo_future_string_with_delay`.
async fn echo_future_string(delay: bool) -> Result<()> {
    let mut guest = Guest::new().await?;
    let func = guest.func(STREAMS, "echo-future-string")?;
    let received = guest
        .store
        .run_concurrent(async move |accessor| -> wasmtime::Result<Option<String>> {
            let input = accessor.with(|mut access| {
                let value = async move {
                    pause(delay).await;
                    Ok::<_, wasmtime::Error>(JUBJUB.to_string())
                };
                FutureReader::new(&mut access, value)?.try_into_future_any(&mut access)
            })?;
            let mut results = vec![Val::Bool(false)];
            func.call_concurrent(accessor, &[Val::Future(input)], &mut results).await?;
            let Val::Future(output) = results.remove(0) else { wasmtime::bail!("not a future") };
            let (keep, value, done) = Keep::<String>::new(delay);
            accessor.with(|mut access| output.try_into_future_reader::<String>()?.pipe(&mut access, keep))?;
            until(&done).await?;
            let value = value.lock().unwrap().take();
            Ok(value)
        })
        .await
        .map_err(any)?
        .map_err(any)?;
    assert_eq!(received.as_deref(), Some(JUBJUB));
    Ok(())
}

#[tokio::test(flavor = "current_thread")]
async fn echo_future_string_at_once() -> Result<()> {
    echo_future_string(false).await
}

#[tokio::test(flavor = "current_thread")]
async fn echo_future_string_with_delay() -> Result<()> {
    echo_future_string(true).await
}

const NAMES: [&str; 5] = ["a", "b", "c", "d", "e"];

/// Upstream's `short_reads` and `short_reads_with_delay`: five exported
/// things go to the guest in one write that the guest reads one at a
/// time, and come back in one write that the host reads one at a time
/// (each short read or write gives the unread things back to the writer);
/// then their async `get`s run concurrently (with a delay each when
/// `delay`).
async fn short_reads(delay: bool) -> Result<()> {
    let mut guest = Guest::new().await?;
    let mut things = Vec::new();
    for name in NAMES {
        things.push(resource(&guest.call(STREAMS, "[constructor]thing", &[Val::String(name.into())]).await?));
    }
    let (func, get) = (guest.func(STREAMS, "short-reads")?, guest.func(STREAMS, "[method]thing.get")?);
    let millis = if delay { DELAY.as_millis() as u32 } else { 0 };
    let (strings, received) = guest
        .store
        .run_concurrent(async move |accessor| -> wasmtime::Result<(Vec<String>, Vec<ResourceAny>)> {
            let input = accessor.with(|mut access| {
                StreamReader::new(&mut access, AllAtOnce::new(things, delay))?.try_into_stream_any(&mut access)
            })?;
            let mut results = vec![Val::Bool(false)];
            func.call_concurrent(accessor, &[Val::Stream(input)], &mut results).await?;
            let Val::Stream(output) = results.remove(0) else { wasmtime::bail!("not a stream") };
            let (collect, items, done) = Collect::<ResourceAny>::new(1, delay);
            accessor.with(|mut access| output.try_into_stream_reader::<ResourceAny>()?.pipe(&mut access, collect))?;
            until(&done).await?;
            let received = items.lock().unwrap().clone();
            let calls = received.iter().map(|thing| async move {
                let mut results = vec![Val::Bool(false)];
                get.call_concurrent(accessor, &[Val::Resource(*thing), Val::U32(millis)], &mut results).await?;
                string_of(&results[0])
            });
            let strings = join_all(calls.collect()).await.into_iter().collect::<wasmtime::Result<Vec<_>>>()?;
            Ok((strings, received))
        })
        .await
        .map_err(any)?
        .map_err(any)?;
    assert_eq!(strings, NAMES);
    for thing in received {
        thing.resource_drop_async(&mut guest.store).await.map_err(any)?;
    }
    Ok(())
}

#[tokio::test(flavor = "current_thread")]
async fn short_reads_at_once() -> Result<()> {
    short_reads(false).await
}

#[tokio::test(flavor = "current_thread")]
async fn short_reads_with_delay() -> Result<()> {
    short_reads(true).await
}

/// Upstream's `short_reads_host` and `short_reads_host_with_delay`: the
/// same with five of the host's `host-thing`s, which come back to the
/// host intact.
async fn short_reads_host(delay: bool) -> Result<()> {
    let mut guest = Guest::new().await?;
    let things: Vec<Resource<ThingString>> = NAMES
        .iter()
        .map(|name| Resource::new_own(guest.table.lock().unwrap().insert(Value::Text(name.to_string()))))
        .collect();
    let func = guest.func(STREAMS, "short-reads-host")?;
    let received = guest
        .store
        .run_concurrent(async move |accessor| -> wasmtime::Result<Vec<Resource<ThingString>>> {
            let input = accessor.with(|mut access| {
                StreamReader::new(&mut access, AllAtOnce::new(things, delay))?.try_into_stream_any(&mut access)
            })?;
            let mut results = vec![Val::Bool(false)];
            func.call_concurrent(accessor, &[Val::Stream(input)], &mut results).await?;
            let Val::Stream(output) = results.remove(0) else { wasmtime::bail!("not a stream") };
            let (collect, items, done) = Collect::<Resource<ThingString>>::new(1, delay);
            accessor.with(|mut access| {
                output.try_into_stream_reader::<Resource<ThingString>>()?.pipe(&mut access, collect)
            })?;
            until(&done).await?;
            let received = std::mem::take(items.lock().unwrap().deref_mut());
            Ok(received)
        })
        .await
        .map_err(any)?
        .map_err(any)?;
    let mut table = guest.table.lock().unwrap();
    let values: Vec<Value> = received.iter().filter_map(|thing| table.live.remove(&thing.rep())).collect();
    let expected: Vec<Value> = NAMES.iter().map(|name| Value::Text(name.to_string())).collect();
    assert_eq!(values, expected);
    assert!(table.live.is_empty(), "the guest kept or dropped host things: {:?}", table.live);
    Ok(())
}

#[tokio::test(flavor = "current_thread")]
async fn short_reads_host_at_once() -> Result<()> {
    short_reads_host(false).await
}

#[tokio::test(flavor = "current_thread")]
async fn short_reads_host_with_delay() -> Result<()> {
    short_reads_host(true).await
}

/// Upstream's `dropped_future_reader` and `dropped_future_reader_with_delay`:
/// of the two futures `dropped-future-reader` returns, the host closes the
/// first unread, so the guest gets its thing back and writes it to the
/// second, which the host reads.
async fn dropped_future_reader(delay: bool) -> Result<()> {
    let mut guest = Guest::new().await?;
    let (func, get) = (guest.func(STREAMS, "dropped-future-reader")?, guest.func(STREAMS, "[method]thing.get")?);
    let (value, thing) = guest
        .store
        .run_concurrent(async move |accessor| -> wasmtime::Result<(String, ResourceAny)> {
            let mut results = vec![Val::Bool(false)];
            func.call_concurrent(accessor, &[Val::String(JUBJUB.into())], &mut results).await?;
            let Val::Tuple(mut pair) = results.remove(0) else { wasmtime::bail!("not a tuple") };
            let (Val::Future(second), Val::Future(mut first)) = (pair.remove(1), pair.remove(0)) else {
                wasmtime::bail!("not two futures")
            };
            accessor.with(|mut access| first.close(&mut access))?;
            let (keep, value, done) = Keep::<ResourceAny>::new(delay);
            accessor.with(|mut access| second.try_into_future_reader::<ResourceAny>()?.pipe(&mut access, keep))?;
            until(&done).await?;
            let thing = value.lock().unwrap().take().ok_or_else(|| wasmtime::format_err!("no thing"))?;
            let mut results = vec![Val::Bool(false)];
            get.call_concurrent(accessor, &[Val::Resource(thing), Val::U32(0)], &mut results).await?;
            Ok((string_of(&results[0])?, thing))
        })
        .await
        .map_err(any)?
        .map_err(any)?;
    assert_eq!(value, JUBJUB);
    thing.resource_drop_async(&mut guest.store).await.map_err(any)?;
    Ok(())
}

#[tokio::test(flavor = "current_thread")]
async fn dropped_future_reader_at_once() -> Result<()> {
    dropped_future_reader(false).await
}

#[tokio::test(flavor = "current_thread")]
async fn dropped_future_reader_with_delay() -> Result<()> {
    dropped_future_reader(true).await
}

/// Upstream's `dropped_future_reader_host` and
/// `dropped_future_reader_host_with_delay`: the same with a `host-thing`
/// that the guest makes (through the host's constructor).
async fn dropped_future_reader_host(delay: bool) -> Result<()> {
    let mut guest = Guest::new().await?;
    let func = guest.func(STREAMS, "dropped-future-reader-host")?;
    let thing = guest
        .store
        .run_concurrent(async move |accessor| -> wasmtime::Result<Resource<ThingString>> {
            let mut results = vec![Val::Bool(false)];
            func.call_concurrent(accessor, &[Val::String(JUBJUB.into())], &mut results).await?;
            let Val::Tuple(mut pair) = results.remove(0) else { wasmtime::bail!("not a tuple") };
            let (Val::Future(second), Val::Future(mut first)) = (pair.remove(1), pair.remove(0)) else {
                wasmtime::bail!("not two futures")
            };
            accessor.with(|mut access| first.close(&mut access))?;
            let (keep, value, done) = Keep::<Resource<ThingString>>::new(delay);
            accessor.with(|mut access| {
                second.try_into_future_reader::<Resource<ThingString>>()?.pipe(&mut access, keep)
            })?;
            until(&done).await?;
            let thing = value.lock().unwrap().take().ok_or_else(|| wasmtime::format_err!("no thing"))?;
            Ok(thing)
        })
        .await
        .map_err(any)?
        .map_err(any)?;
    let value = guest.table.lock().unwrap().live.remove(&thing.rep());
    assert_eq!(value, Some(Value::Text(JUBJUB.into())));
    Ok(())
}

#[tokio::test(flavor = "current_thread")]
async fn dropped_future_reader_host_at_once() -> Result<()> {
    dropped_future_reader_host(false).await
}

#[tokio::test(flavor = "current_thread")]
async fn dropped_future_reader_host_with_delay() -> Result<()> {
    dropped_future_reader_host(true).await
}

// ------------------------------------------------- intersect world

/// Our app for upstream's `multiworld_intersect` (upstream's is inline in
/// its `tests.rs`): built from the SDKs' worlds alone, intersected with
/// `foo:sdk/foo-world2`, it may import only `foo-interface2`.
const INTERSECT_APP: &str = r#"
import importlib

from foo_sdk.wit import exports
from foo_sdk.wit.imports import foo_interface2

for name in ("foo_sdk.wit.imports.foo_interface", "bar_sdk.wit.imports.bar_interface"):
    try:
        importlib.import_module(name)
    except ModuleNotFoundError:
        pass
    else:
        raise AssertionError(f"{name} is outside the intersection")


class FooInterface(exports.FooInterface):
    def test(self, s: str) -> str:
        return foo_interface2.test(f"{s} FooInterface.test")


class BarSdkBarInterface:
    def test(self, s: str) -> str:
        raise AssertionError("bar:sdk/bar-interface is not exported")
"#;

/// Upstream's `multiworld_intersect`: a WIT package with no world, the
/// worlds of the SDKs (`-m foo_sdk=foo:sdk/foo-world-union -m
/// bar_sdk=bar:sdk/bar-world`) intersected with `foo:sdk/foo-world2`
/// (`-i`): `foo:sdk/foo-interface` is exported (it calls the host's
/// `foo-interface2`), `bar:sdk/bar-interface` is not.
#[tokio::test(flavor = "current_thread")]
async fn multiworld_intersect() -> Result<()> {
    let work = tempfile::tempdir()?;
    let sdist = upstream_sdist();
    copy_dir(&sdist.join("src/test"), &work.path().join("src/test"));
    let app = work.path().join("app");
    std::fs::create_dir_all(&app)?;
    std::fs::write(app.join("app.wit"), "package dummy:dummy;\n")?;
    std::fs::write(app.join("app.py"), INTERSECT_APP)?;
    build(
        work.path(),
        &[
            "-d", "app/app.wit", "componentize", "-p", "src/test", "-p", "app",
            "-m", "foo_sdk=foo:sdk/foo-world-union", "-m", "bar_sdk=bar:sdk/bar-world",
            "-i", "foo:sdk/foo-world2", "app", "-o", "app/app.wasm",
        ],
    );
    let (_, engine) = component();
    let component = run::load(engine, &app.join("app.wasm"))?;
    let table = Shared::default();
    let linker = linker(engine, &table)?;
    let mut store = run::store(engine, &[]);
    let instance = linker.instantiate_async(&mut store, &component).await.map_err(any)?;
    let mut guest = Guest { store, instance, table };
    let result = guest.call(Some("foo:sdk/foo-interface"), "test", &[Val::String("Howdy".into())]).await?;
    assert_eq!(result, Val::String("Howdy FooInterface.test HostFoo2::test".into()));
    let error = guest.func(Some("bar:sdk/bar-interface"), "test").expect_err("bar-interface is exported");
    assert!(format!("{error:#}").contains("no exported instance named `bar:sdk/bar-interface`"), "{error:#}");
    Ok(())
}
