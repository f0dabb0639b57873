//! End-to-end tests of WIT resources: the real `componentize-py` binary
//! builds `tests/fixtures/resources`, and a Wasmtime host calls its exports.
//! The guest exports resource `api.blob` (implemented in Python) and imports
//! resource `host.counter` and the world-level resource `gauge` (both
//! implemented here, counting live handles; a second drop of one is an
//! error that traps the guest).
//!
//! Which borrow shapes exist: an import can never take `borrow<r>` of a
//! resource `r` the world *exports*. A component's imports cannot refer to
//! the types its exports define, so when an imported interface `use`s an
//! exported interface's resource, wit-parser imports that interface as well
//! and the import takes the *imported* twin of the resource (see the
//! bindings test `import_using_an_exported_resource_gets_the_imported_twin`).
//! The legal shapes tested here: the guest lends a borrowed imported handle
//! on to imports (`inspect-via-host`), and the host passes borrows of two
//! exported resources (or one twice) to an exported method (`blob.append`).

use anyhow::{anyhow, Result};
use componentize_py::run;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use wasmtime::component::{Instance, Linker, Resource, ResourceAny, ResourceType, Val};
use wasmtime::Store;

mod common;
use common::{compiler, repo, text};

fn any(e: impl std::fmt::Debug) -> anyhow::Error {
    anyhow!("{e:?}")
}

/// Build the fixture (in a temporary directory).
fn component() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let wasm = tmp.path().join("resources.wasm");
    let fixture = repo().join("tests/fixtures/resources");
    let output = compiler()
        .current_dir(&fixture)
        .args(["-d", "resources.wit", "-w", "resources", "componentize", "app", "-p", "."])
        .arg("-o")
        .arg(&wasm)
        .output()
        .unwrap();
    assert!(output.status.success(), "build failed: {}", text(&output.stderr));
    (tmp, wasm)
}

/// The host's counters: rep -> value, plus how many were ever created.
#[derive(Default)]
struct Counters {
    live: BTreeMap<u32, u32>,
    next: u32,
    created: u32,
    dropped_by_guest: u32,
}

impl Counters {
    fn create(&mut self, value: u32) -> u32 {
        self.next += 1;
        self.created += 1;
        self.live.insert(self.next, value);
        self.next
    }
}

/// Marker type of the host resource `counter`.
struct Counter;

/// Marker type of the world-level host resource `gauge`.
struct Gauge;

struct Host {
    store: Store<run::Host>,
    instance: Instance,
    counters: Arc<Mutex<Counters>>,
    gauges: Arc<Mutex<Counters>>,
    runtime: tokio::runtime::Runtime,
}

fn rep_of(store: &mut wasmtime::StoreContextMut<'_, run::Host>, val: &Val) -> wasmtime::Result<u32> {
    rep_of_type::<Counter>(store, val)
}

fn rep_of_type<T: 'static>(
    store: &mut wasmtime::StoreContextMut<'_, run::Host>,
    val: &Val,
) -> wasmtime::Result<u32> {
    let Val::Resource(handle) = val else { wasmtime::bail!("not a resource: {val:?}") };
    Ok(handle.try_into_resource::<T>(&mut *store)?.rep())
}

fn value_of(counters: &Mutex<Counters>, rep: u32) -> wasmtime::Result<u32> {
    let counters = counters.lock().unwrap();
    counters.live.get(&rep).copied().ok_or_else(|| wasmtime::format_err!("no counter {rep}"))
}

fn new_counter(
    store: &mut wasmtime::StoreContextMut<'_, run::Host>,
    counters: &Mutex<Counters>,
    value: u32,
) -> wasmtime::Result<Val> {
    new_resource::<Counter>(store, counters, value)
}

fn new_resource<T: 'static>(
    store: &mut wasmtime::StoreContextMut<'_, run::Host>,
    counters: &Mutex<Counters>,
    value: u32,
) -> wasmtime::Result<Val> {
    let rep = counters.lock().unwrap().create(value);
    let handle = Resource::<T>::new_own(rep).try_into_resource_any(&mut *store)?;
    Ok(Val::Resource(handle))
}

/// Define the world-level resource `gauge` and `make-gauge` on the linker's
/// root, backed by `gauges`.
fn define_gauges(linker: &mut Linker<run::Host>, gauges: &Arc<Mutex<Counters>>) -> Result<()> {
    let mut root = linker.root();
    let g = gauges.clone();
    root.resource("gauge", ResourceType::host::<Gauge>(), move |_, rep| {
        let mut gauges = g.lock().unwrap();
        if gauges.live.remove(&rep).is_none() {
            wasmtime::bail!("gauge {rep} dropped twice");
        }
        gauges.dropped_by_guest += 1;
        Ok(())
    })
    .map_err(any)?;
    let g = gauges.clone();
    root.func_new("[constructor]gauge", move |mut store, _, params, results| {
        let Val::U32(level) = params[0] else { wasmtime::bail!("bad level") };
        results[0] = new_resource::<Gauge>(&mut store, &g, level)?;
        Ok(())
    })
    .map_err(any)?;
    let g = gauges.clone();
    root.func_new("[method]gauge.level", move |mut store, _, params, results| {
        let rep = rep_of_type::<Gauge>(&mut store, &params[0])?;
        results[0] = Val::U32(value_of(&g, rep)?);
        Ok(())
    })
    .map_err(any)?;
    let g = gauges.clone();
    root.func_new("[method]gauge.raise", move |mut store, _, params, _| {
        let rep = rep_of_type::<Gauge>(&mut store, &params[0])?;
        let Val::U32(by) = params[1] else { wasmtime::bail!("bad by") };
        let mut gauges = g.lock().unwrap();
        let level = gauges.live.get_mut(&rep).ok_or_else(|| wasmtime::format_err!("no gauge"))?;
        *level += by;
        Ok(())
    })
    .map_err(any)?;
    let g = gauges.clone();
    root.func_new("[static]gauge.combine", move |mut store, _, params, results| {
        let a = value_of(&g, rep_of_type::<Gauge>(&mut store, &params[0])?)?;
        let b = value_of(&g, rep_of_type::<Gauge>(&mut store, &params[1])?)?;
        results[0] = new_resource::<Gauge>(&mut store, &g, a + b)?;
        Ok(())
    })
    .map_err(any)?;
    let g = gauges.clone();
    root.func_new("make-gauge", move |mut store, _, params, results| {
        let Val::U32(level) = params[0] else { wasmtime::bail!("bad level") };
        results[0] = new_resource::<Gauge>(&mut store, &g, level)?;
        Ok(())
    })
    .map_err(any)?;
    Ok(())
}

impl Host {
    fn new(wasm: &Path) -> Result<Self> {
        let engine = run::engine()?;
        let component = run::load(&engine, wasm)?;
        let mut linker: Linker<run::Host> = run::linker(&engine)?;
        let counters = Arc::new(Mutex::new(Counters::default()));
        let mut host = linker.instance("test:resources/host").map_err(any)?;

        let c = counters.clone();
        host.resource("counter", ResourceType::host::<Counter>(), move |_, rep| {
            let mut counters = c.lock().unwrap();
            if counters.live.remove(&rep).is_none() {
                wasmtime::bail!("counter {rep} dropped twice");
            }
            counters.dropped_by_guest += 1;
            Ok(())
        })
        .map_err(any)?;
        let c = counters.clone();
        host.func_new("[constructor]counter", move |mut store, _, params, results| {
            let Val::U32(start) = params[0] else { wasmtime::bail!("bad start") };
            results[0] = new_counter(&mut store, &c, start)?;
            Ok(())
        })
        .map_err(any)?;
        let c = counters.clone();
        host.func_new("[method]counter.get", move |mut store, _, params, results| {
            let rep = rep_of(&mut store, &params[0])?;
            results[0] = Val::U32(value_of(&c, rep)?);
            Ok(())
        })
        .map_err(any)?;
        let c = counters.clone();
        host.func_new("[method]counter.bump", move |mut store, _, params, _| {
            let rep = rep_of(&mut store, &params[0])?;
            let Val::U32(by) = params[1] else { wasmtime::bail!("bad by") };
            *c.lock().unwrap().live.get_mut(&rep).unwrap() += by;
            Ok(())
        })
        .map_err(any)?;
        let c = counters.clone();
        host.func_new("[static]counter.merge", move |mut store, _, params, results| {
            let a = value_of(&c, rep_of(&mut store, &params[0])?)?;
            let b = value_of(&c, rep_of(&mut store, &params[1])?)?;
            results[0] = new_counter(&mut store, &c, a + b)?;
            Ok(())
        })
        .map_err(any)?;
        let c = counters.clone();
        host.func_new("make", move |mut store, _, params, results| {
            let Val::U32(start) = params[0] else { wasmtime::bail!("bad start") };
            results[0] = new_counter(&mut store, &c, start)?;
            Ok(())
        })
        .map_err(any)?;
        let c = counters.clone();
        host.func_new("consume", move |mut store, _, params, results| {
            // Ownership came to the host: it drops the counter itself.
            let rep = rep_of(&mut store, &params[0])?;
            let value = c.lock().unwrap().live.remove(&rep);
            results[0] = Val::U32(value.ok_or_else(|| wasmtime::format_err!("no counter"))?);
            Ok(())
        })
        .map_err(any)?;
        let c = counters.clone();
        host.func_new("peek-all", move |mut store, _, params, results| {
            let Val::List(items) = &params[0] else { wasmtime::bail!("bad list") };
            let mut sum = 0;
            for item in items {
                sum += value_of(&c, rep_of(&mut store, item)?)?;
            }
            results[0] = Val::U32(sum);
            Ok(())
        })
        .map_err(any)?;

        let gauges = Arc::new(Mutex::new(Counters::default()));
        define_gauges(&mut linker, &gauges)?;

        let mut store = run::store(&engine, &["resources".to_string()]);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let instance = runtime
            .block_on(linker.instantiate_async(&mut store, &component))
            .map_err(any)?;
        Ok(Host { store, instance, counters, gauges, runtime })
    }

    /// Call export `name` (of interface `api` when `api`), return its results.
    fn call(&mut self, api: bool, name: &str, params: &[Val]) -> Result<Vec<Val>> {
        let parent = if api {
            Some(
                self.instance
                    .get_export_index(&mut self.store, None, "test:resources/api")
                    .ok_or_else(|| anyhow!("no export test:resources/api"))?,
            )
        } else {
            None
        };
        let index = self
            .instance
            .get_export_index(&mut self.store, parent.as_ref(), name)
            .ok_or_else(|| anyhow!("no export {name}"))?;
        let func = self
            .instance
            .get_func(&mut self.store, index)
            .ok_or_else(|| anyhow!("{name} is not a function"))?;
        let mut results = vec![Val::Bool(false); func.ty(&self.store).results().len()];
        self.runtime
            .block_on(func.call_async(&mut self.store, params, &mut results))
            .map_err(|e| anyhow!("calling {name}: {e:?}"))?;
        Ok(results)
    }

    fn api(&mut self, name: &str, params: &[Val]) -> Val {
        let mut results = self.call(true, name, params).unwrap();
        results.pop().unwrap_or(Val::Bool(false))
    }

    fn world(&mut self, name: &str, params: &[Val]) -> Val {
        let mut results = self.call(false, name, params).unwrap();
        results.pop().unwrap_or(Val::Bool(false))
    }

    fn drop_resource(&mut self, handle: ResourceAny) {
        self.runtime
            .block_on(handle.resource_drop_async(&mut self.store))
            .map_err(any)
            .unwrap();
    }

    /// A counter created by the host, as a handle to pass to the guest.
    fn host_counter(&mut self, value: u32) -> (u32, ResourceAny) {
        let rep = self.counters.lock().unwrap().create(value);
        let handle = Resource::<Counter>::new_own(rep)
            .try_into_resource_any(&mut self.store)
            .map_err(any)
            .unwrap();
        (rep, handle)
    }

    fn live_counters(&self) -> usize {
        self.counters.lock().unwrap().live.len()
    }

    /// A gauge created by the host, as a handle to pass to the guest.
    fn host_gauge(&mut self, level: u32) -> (u32, ResourceAny) {
        let rep = self.gauges.lock().unwrap().create(level);
        let handle = Resource::<Gauge>::new_own(rep)
            .try_into_resource_any(&mut self.store)
            .map_err(any)
            .unwrap();
        (rep, handle)
    }

    /// (created, dropped by the guest, live) of `which` (counters or gauges).
    fn counts(which: &Mutex<Counters>) -> (u32, u32, usize) {
        let counters = which.lock().unwrap();
        (counters.created, counters.dropped_by_guest, counters.live.len())
    }
}

fn bytes(values: &[u8]) -> Val {
    Val::List(values.iter().map(|b| Val::U8(*b)).collect())
}

fn handle(val: &Val) -> ResourceAny {
    match val {
        Val::Resource(handle) => *handle,
        other => panic!("expected a resource, got {other:?}"),
    }
}

#[test]
fn exported_resource_round_trips() {
    let (_tmp, wasm) = component();
    let mut host = Host::new(&wasm).unwrap();
    let u32_ = |v: Val| match v {
        Val::U32(n) => n,
        other => panic!("expected u32, got {other:?}"),
    };

    // Constructor, methods (borrow of the guest's own resource), statics.
    let b1 = handle(&host.api("[constructor]blob", &[bytes(&[1, 2])]));
    assert!(b1.owned());
    host.api("[method]blob.write", &[Val::Resource(b1), bytes(&[3])]);
    assert_eq!(host.api("[method]blob.read", &[Val::Resource(b1)]), bytes(&[1, 2, 3]));
    let b2 = handle(&host.api("[constructor]blob", &[bytes(&[9])]));
    let merged = handle(&host.api("[static]blob.merge", &[Val::Resource(b1), Val::Resource(b2)]));
    assert_eq!(host.api("[method]blob.read", &[Val::Resource(merged)]), bytes(&[1, 2, 3, 9]));
    assert_eq!(u32_(host.api("live-blobs", &[])), 3);

    // Own parameters: ownership goes back to the guest.
    let both = handle(&host.api("[static]blob.concat", &[Val::Resource(b1), Val::Resource(b2)]));
    assert_eq!(host.api("[method]blob.read", &[Val::Resource(both)]), bytes(&[1, 2, 3, 9]));
    // b2 is gone (the guest dropped its handle), b1 lives on as `both`.
    assert_eq!(u32_(host.api("live-blobs", &[])), 2);

    // In a record.
    let named = host.api("wrap", &[Val::String("n".into()), Val::Resource(both)]);
    let Val::Record(fields) = &named else { panic!("expected a record, got {named:?}") };
    assert_eq!(fields[0], ("name".to_string(), Val::String("n".into())));
    let inner = handle(&fields[1].1);
    assert_eq!(host.api("[method]blob.read", &[Val::Resource(inner)]), bytes(&[1, 2, 3, 9]));
    let unwrapped = handle(&host.api("unwrap", &[named]));
    assert_eq!(host.api("[method]blob.read", &[Val::Resource(unwrapped)]), bytes(&[1, 2, 3, 9]));

    // In a list: own results, then borrows.
    let Val::List(many) = host.api("make-many", &[Val::U32(3)]) else { panic!("expected a list") };
    assert_eq!(many.len(), 3);
    assert_eq!(host.api("[method]blob.read", &[many[2].clone()]), bytes(&[2]));
    assert_eq!(u32_(host.api("total-len", &[Val::List(many.clone())])), 3);
    assert_eq!(u32_(host.api("live-blobs", &[])), 5);

    // In an option and a result.
    let ok = host.api("maybe", &[Val::Option(Some(Box::new(many[0].clone())))]);
    let Val::Result(Ok(Some(payload))) = &ok else { panic!("expected ok(blob), got {ok:?}") };
    let from_option = handle(payload);
    assert_eq!(host.api("[method]blob.read", &[Val::Resource(from_option)]), bytes(&[0]));
    let err = host.api("maybe", &[Val::Option(None)]);
    assert_eq!(err, Val::Result(Err(Some(Box::new(Val::String("none".into()))))));

    // In a variant (own: consumed).
    let variant = Val::Variant("blob".into(), Some(Box::new(many[1].clone())));
    assert_eq!(host.api("describe", &[variant]), Val::String("blob b'\\x01'".into()));
    let variant = Val::Variant("text".into(), Some(Box::new(Val::String("t".into()))));
    assert_eq!(host.api("describe", &[variant]), Val::String("text t".into()));
    assert_eq!(u32_(host.api("live-blobs", &[])), 4);

    // The host drops every handle it still owns: the guest releases them all.
    for owned in [merged, unwrapped, from_option, handle(&many[2])] {
        host.drop_resource(owned);
    }
    assert_eq!(u32_(host.api("live-blobs", &[])), 0);
}

#[test]
fn imported_resource_handles_are_dropped() {
    let (_tmp, wasm) = component();
    let mut host = Host::new(&wasm).unwrap();

    // Constructor, methods, statics, `with`, own transfer, lists, garbage.
    assert_eq!(host.world("use-counters", &[]), Val::U32(57));
    {
        let counters = host.counters.lock().unwrap();
        assert_eq!(counters.created, 6);
        // Every one but `consume`d `m` was dropped by the guest.
        assert_eq!(counters.dropped_by_guest, 5);
        assert!(counters.live.is_empty(), "leaked: {:?}", counters.live);
    }

    // A borrow passed to an export: the guest drops its borrow handle before
    // returning (Wasmtime traps otherwise); the host still owns the counter.
    let (rep, counter) = host.host_counter(42);
    assert_eq!(host.world("inspect", &[Val::Resource(counter)]), Val::U32(42));
    assert_eq!(host.world("inspect", &[Val::Resource(counter)]), Val::U32(42));
    assert_eq!(host.live_counters(), 1);
    host.counters.lock().unwrap().live.remove(&rep);

    // Own passed to an export: the guest drops it when its object goes away.
    let (_, counter) = host.host_counter(8);
    assert_eq!(host.world("take", &[Val::Resource(counter)]), Val::U32(8));
    assert_eq!(host.live_counters(), 0);

    // Kept by the guest until it lets go.
    let (_, counter) = host.host_counter(9);
    host.world("keep", &[Val::Resource(counter)]);
    assert_eq!(host.live_counters(), 1);
    host.world("release", &[]);
    assert_eq!(host.live_counters(), 0);

    // Own returned by the guest: the host owns it now.
    let given = handle(&host.world("give", &[Val::U32(7)]));
    let rep = given.try_into_resource::<Counter>(&mut host.store).map_err(any).unwrap().rep();
    assert_eq!(host.counters.lock().unwrap().live.remove(&rep), Some(7));
    assert_eq!(host.live_counters(), 0);
}

#[test]
fn borrowed_imported_handle_is_lent_on_to_imports() {
    let (_tmp, wasm) = component();
    let mut host = Host::new(&wasm).unwrap();

    // The export receives `borrow<counter>` and passes it on as a borrow to
    // `peek-all` (in a list, twice) and `counter.merge` (twice), then calls a
    // method on it. peek-all: 5 + 5, merge: a new counter of 10 (owned by the
    // guest, dropped there), get: 5.
    let (rep, counter) = host.host_counter(5);
    assert_eq!(host.world("inspect-via-host", &[Val::Resource(counter)]), Val::U32(25));
    // Only the merged counter was created by the guest, and it was dropped
    // exactly once; the host's counter is untouched (the guest dropped its
    // borrow handle, not the resource: Wasmtime traps on a borrow still
    // held when the export returns).
    assert_eq!(Host::counts(&host.counters), (2, 1, 1));
    assert_eq!(value_of(&host.counters, rep).unwrap(), 5);

    // Again with the same handle: the borrow was released, nothing piles up.
    assert_eq!(host.world("inspect-via-host", &[Val::Resource(counter)]), Val::U32(25));
    assert_eq!(Host::counts(&host.counters), (3, 2, 1));

    // The host still owns its counter and can pass it on as `own`.
    assert_eq!(host.world("take", &[Val::Resource(counter)]), Val::U32(5));
    assert_eq!(Host::counts(&host.counters), (3, 3, 0));
}

#[test]
fn exported_resource_method_borrows_another_instance() {
    let (_tmp, wasm) = component();
    let mut host = Host::new(&wasm).unwrap();
    let live = |host: &mut Host| match host.api("live-blobs", &[]) {
        Val::U32(n) => n,
        other => panic!("expected u32, got {other:?}"),
    };

    let b1 = handle(&host.api("[constructor]blob", &[bytes(&[1])]));
    let b2 = handle(&host.api("[constructor]blob", &[bytes(&[2])]));
    // `self` and `other` both borrows of the guest's own resource: another
    // instance, then the same one twice.
    host.api("[method]blob.append", &[Val::Resource(b1), Val::Resource(b2)]);
    assert_eq!(host.api("[method]blob.read", &[Val::Resource(b1)]), bytes(&[1, 2]));
    host.api("[method]blob.append", &[Val::Resource(b1), Val::Resource(b1)]);
    assert_eq!(host.api("[method]blob.read", &[Val::Resource(b1)]), bytes(&[1, 2, 1, 2]));
    // The borrowed blob is unchanged and still the host's.
    assert_eq!(host.api("[method]blob.read", &[Val::Resource(b2)]), bytes(&[2]));
    // Borrows took no references: exactly the two owned handles keep objects.
    assert_eq!(live(&mut host), 2);
    host.drop_resource(b2);
    assert_eq!(live(&mut host), 1);
    host.drop_resource(b1);
    assert_eq!(live(&mut host), 0);
    // A handle the host dropped is gone (a second drop is an error).
    let again = host.runtime.block_on(b1.resource_drop_async(&mut host.store));
    assert!(again.is_err(), "dropping a blob twice succeeded");
}

#[test]
fn world_level_imported_resource_handles_are_dropped() {
    let (_tmp, wasm) = component();
    let mut host = Host::new(&wasm).unwrap();

    // Constructor, method (`raise` -> `raise_`), static, a world-level
    // function returning one, `with`, garbage: 3 + 4 = 7, + 10 = 17, + the
    // combined 17 = 34.
    assert_eq!(host.world("use-gauges", &[]), Val::U32(34));
    // Three gauges made (constructor, make-gauge, combine), each dropped by
    // the guest exactly once (a second drop traps), none left.
    assert_eq!(Host::counts(&host.gauges), (3, 3, 0));
    // Again: the same again, nothing left over from the first call.
    assert_eq!(host.world("use-gauges", &[]), Val::U32(34));
    assert_eq!(Host::counts(&host.gauges), (6, 6, 0));
    // The interface resource was not involved.
    assert_eq!(Host::counts(&host.counters), (0, 0, 0));

    // A borrow passed to an export: the host keeps its gauge.
    let (rep, gauge) = host.host_gauge(21);
    assert_eq!(host.world("read-gauge", &[Val::Resource(gauge)]), Val::U32(21));
    assert_eq!(Host::counts(&host.gauges), (7, 6, 1));
    assert_eq!(value_of(&host.gauges, rep).unwrap(), 21);

    // Own passed to an export: the guest drops it once it is done.
    assert_eq!(host.world("take-gauge", &[Val::Resource(gauge)]), Val::U32(21));
    assert_eq!(Host::counts(&host.gauges), (7, 7, 0));
}

/// Build the fixture with `api.py` replaced by `api` (None: no such module,
/// and an app that does not import it);
/// the build must fail. Returns stderr.
fn build_without_implementation(api: Option<&str>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let fixture = repo().join("tests/fixtures/resources");
    std::fs::copy(fixture.join("resources.wit"), dir.path().join("resources.wit")).unwrap();
    let app = match api {
        Some(_) => std::fs::read_to_string(fixture.join("app.py")).unwrap(),
        // An app that does not import `api` itself.
        None => "class WitWorld: pass\nclass Api: pass\n".to_string(),
    };
    std::fs::write(dir.path().join("app.py"), app).unwrap();
    if let Some(api) = api {
        std::fs::write(dir.path().join("api.py"), api).unwrap();
    }
    let output = Command::new(env!("CARGO_BIN_EXE_componentize-py"))
        .current_dir(dir.path())
        .args(["-d", "resources.wit", "-w", "resources", "componentize", "app", "-p", "."])
        .args(["-o", "out.wasm"])
        .output()
        .unwrap();
    assert!(!output.status.success(), "build unexpectedly succeeded");
    assert!(!dir.path().join("out.wasm").exists());
    text(&output.stderr)
}

#[test]
fn missing_resource_implementation_is_named() {
    // app.py imports `api` itself: hide that with an empty module first.
    let err = build_without_implementation(Some("# no Blob here\n"));
    assert!(
        err.contains("module 'api' has no class 'Blob', which the world's exported resource \
                      'test:resources/api#blob' needs"),
        "{err}"
    );
}

#[test]
fn missing_resource_module_is_named() {
    let err = build_without_implementation(None);
    assert!(
        err.contains("no module 'api' on the python path: the world exports resource \
                      'test:resources/api#blob', which needs a class 'Blob' in a module 'api'"),
        "{err}"
    );
}
