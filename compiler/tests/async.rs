//! End-to-end tests of the component model's async ABI: the real
//! `componentize-py` binary builds `tests/fixtures/async`, and real
//! Wasmtime runs it, through `run --invoke` (world `simple`, no imports but
//! WASI) and through a Rust host here (world `asyncs`), whose async import
//! `test:asyncs/host#later` completes on a tokio timer: WAVE cannot
//! express a host that answers later. World `streams` sends streams and
//! futures through the guest (`tests/fixtures/async/streams.py`) to the
//! Rust host here, which reads and writes them with and without delays.

use anyhow::{anyhow, Context as _, Result};
use componentize_py::run;
use std::ops::DerefMut;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use wasmtime::component::{
    Destination, Func, FutureReader, Lift, Linker, ResourceAny, Source,
    StreamConsumer, StreamProducer, StreamReader, StreamResult, Val, VecBuffer,
};
use wasmtime::StoreContextMut;

mod common;
use common::{componentize_py, repo, text};
use common::streams::{pause, until, AllAtOnce, Collect, Keep};

/// Build world `world` of the fixture with app module `app` into a
/// temporary directory.
fn build(world: &str, app: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let wasm = tmp.path().join(format!("{world}.wasm"));
    let fixture = repo().join("tests/fixtures/async");
    let output = componentize_py(
        &fixture,
        &["-d", "async.wit", "-w", world, "componentize", app, "-p", ".", "-o", wasm.to_str().unwrap()],
    );
    assert!(output.status.success(), "build failed: {}", text(&output.stderr));
    (tmp, wasm)
}

fn invoke(wasm: &Path, calls: &[&str]) -> std::process::Output {
    let mut args = vec!["run".to_string(), wasm.display().to_string()];
    for call in calls {
        args.push("--invoke".into());
        args.push(call.to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    componentize_py(wasm.parent().unwrap(), &args)
}

#[test]
fn async_exports_run_with_invoke() {
    let (_tmp, wasm) = build("simple", "simple");
    let bytes = std::fs::read(&wasm).unwrap();
    assert!(run::uses_async(&bytes), "the component should use the async ABI");

    let output = invoke(&wasm, &[r#"greet("async")"#, "checked(4)", "checked(0)", "nothing()"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert_eq!(stdout, "\"Hello, async!\"\nok(25)\nerr(\"zero\")\nnothing ran\n");
}

#[test]
fn an_exception_in_an_async_export_traps_with_its_traceback() {
    let (_tmp, wasm) = build("simple", "simple");
    let output = invoke(&wasm, &[r#"fail("now")"#]);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("Traceback (most recent call last)"), "{stderr}");
    assert!(stderr.contains("ValueError: failed: now"), "{stderr}");
    assert!(stderr.contains("line 20, in fail"), "{stderr}");
    assert!(
        stderr.contains("the async export 'fail' raised an exception"),
        "{stderr}"
    );
}

/// Calls of `later` in flight now, and the most there ever were.
#[derive(Default)]
struct InFlight {
    now: AtomicUsize,
    max: AtomicUsize,
    calls: AtomicUsize,
}

/// A linker with WASI and the fixture's `test:asyncs/host`, implemented
/// with concurrent host functions.
fn host_linker(engine: &wasmtime::Engine, in_flight: Arc<InFlight>) -> Result<Linker<run::Host>> {
    let mut linker: Linker<run::Host> = run::linker(engine)?;
    let mut host = linker.instance("test:asyncs/host").map_err(|e| anyhow!("{e:?}"))?;
    host.func_new_concurrent("later", move |_accessor, _ty, params, results| {
        let in_flight = in_flight.clone();
        Box::pin(async move {
            let (Val::U32(delay), Val::String(value)) = (&params[0], &params[1]) else {
                wasmtime::bail!("bad arguments to `later`: {params:?}");
            };
            in_flight.calls.fetch_add(1, Ordering::SeqCst);
            let now = in_flight.now.fetch_add(1, Ordering::SeqCst) + 1;
            in_flight.max.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(u64::from(*delay))).await;
            in_flight.now.fetch_sub(1, Ordering::SeqCst);
            results[0] = Val::String(value.chars().rev().collect());
            Ok(())
        })
    })
    .map_err(|e| anyhow!("{e:?}"))?;
    host.func_new_concurrent("now", |_accessor, _ty, params, results| {
        Box::pin(async move {
            let Val::U32(value) = params[0] else { wasmtime::bail!("bad argument to `now`") };
            results[0] = Val::U32(value + 1);
            Ok(())
        })
    })
    .map_err(|e| anyhow!("{e:?}"))?;
    Ok(linker)
}

#[tokio::test(flavor = "current_thread")]
async fn async_imports_the_host_completes_later_and_interleaved_calls() -> Result<()> {
    let (_tmp, wasm) = build("asyncs", "app");
    let engine = run::engine_for(&run::Limits::default(), true)?;
    let component = run::load(&engine, &wasm)?;
    let in_flight = Arc::new(InFlight::default());
    let linker = host_linker(&engine, in_flight.clone())?;
    let mut store = run::store(&engine, &[]);
    let instance = linker.instantiate_async(&mut store, &component).await.map_err(|e| anyhow!("{e:?}"))?;
    let relay = instance.get_func(&mut store, "relay").ok_or_else(|| anyhow!("no `relay`"))?;
    let twice = instance.get_func(&mut store, "twice").ok_or_else(|| anyhow!("no `twice`"))?;
    let boom = instance.get_func(&mut store, "boom").ok_or_else(|| anyhow!("no `boom`"))?;

    // One call: two awaits of an import the host completes 50 ms later.
    let mut results = vec![Val::Bool(false)];
    relay
        .call_async(&mut store, &[Val::U32(50), Val::String("abc".into())], &mut results)
        .await
        .map_err(|e| anyhow!("{e:?}"))?;
    assert_eq!(results[0], Val::String("cba/abc".into()));
    assert_eq!(in_flight.max.load(Ordering::SeqCst), 1);

    // An import that completes at once (no subtask to wait for).
    twice
        .call_async(&mut store, &[Val::U32(20)], &mut results)
        .await
        .map_err(|e| anyhow!("{e:?}"))?;
    assert_eq!(results[0], Val::U32(42));

    // Two calls of the export in flight at once in one instance: both are
    // waiting on the host together, and each gets its own result.
    let (a, b) = store
        .run_concurrent(async |accessor| -> wasmtime::Result<(Val, Val)> {
            let mut ra = vec![Val::Bool(false)];
            let mut rb = vec![Val::Bool(false)];
            let pa = [Val::U32(200), Val::String("one".into())];
            let pb = [Val::U32(100), Val::String("two".into())];
            let (x, y) = tokio::join!(
                relay.call_concurrent(accessor, &pa, &mut ra),
                relay.call_concurrent(accessor, &pb, &mut rb),
            );
            x?;
            y?;
            Ok((ra.remove(0), rb.remove(0)))
        })
        .await
        .map_err(|e: wasmtime::Error| anyhow!("{e:?}"))?
        .map_err(|e: wasmtime::Error| anyhow!("{e:?}"))?;
    assert_eq!(a, Val::String("eno/one".into()));
    assert_eq!(b, Val::String("owt/two".into()));
    assert_eq!(in_flight.max.load(Ordering::SeqCst), 2, "the two calls did not overlap");
    assert_eq!(in_flight.calls.load(Ordering::SeqCst), 6);

    // An exception after an await (raised in the callback, not the first
    // poll) traps.
    let error = boom
        .call_async(&mut store, &[Val::String("late".into())], &mut results)
        .await
        .expect_err("`boom` should trap");
    assert!(format!("{error:?}").contains("unreachable"), "{error:?}");
    Ok(())
}

#[test]
fn a_world_without_async_imports_no_async_built_ins() {
    let tmp = tempfile::tempdir().unwrap();
    let wasm = tmp.path().join("hello.wasm");
    let output = componentize_py(
        &repo().join("examples/hello"),
        &["-d", "hello.wit", "-w", "hello", "componentize", "app", "-o", wasm.to_str().unwrap()],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let bytes = std::fs::read(&wasm).unwrap();
    assert!(!run::uses_async(&bytes), "a sync world's component uses the async ABI");
    // Nor does its core module name any canonical async built-in.
    for name in ["[waitable-set-new]", "[context-get-0]", "[task-return]", "[async-lower]"] {
        assert!(
            !bytes.windows(name.len()).any(|w| w == name.as_bytes()),
            "a sync world's component mentions `{name}`"
        );
    }
}

// ---------------------------------------------------------------- streams and futures

/// The functions of `test:asyncs/echoes` in an instance of world `streams`.
struct Echoes {
    stream_u8: Func,
    future_string: Func,
    short_reads: Func,
    dropped_future_reader: Func,
    thing_new: Func,
    thing_get: Func,
}

fn echoes(store: &mut wasmtime::Store<run::Host>, instance: &wasmtime::component::Instance) -> Result<Echoes> {
    let mut func = |name: &str| export(store, instance, "test:asyncs/echoes", name);
    Ok(Echoes {
        stream_u8: func("echo-stream-u8")?,
        future_string: func("echo-future-string")?,
        short_reads: func("short-reads")?,
        dropped_future_reader: func("dropped-future-reader")?,
        thing_new: func("[constructor]thing")?,
        thing_get: func("[method]thing.get")?,
    })
}

/// One instance of world `streams` runs every case, once with a host that
/// answers at once and once with a host that waits before each read and
/// write (so that the guest's reads and writes block).
#[tokio::test(flavor = "current_thread")]
async fn streams_and_futures_through_the_guest() -> Result<()> {
    let (_tmp, wasm) = build("streams", "streams");
    let engine = run::engine_for(&run::Limits::default(), true)?;
    let component = run::load(&engine, &wasm)?;
    let linker: Linker<run::Host> = run::linker(&engine)?;
    let mut store = run::store(&engine, &[]);
    let instance = linker.instantiate_async(&mut store, &component).await.map_err(|e| anyhow!("{e:?}"))?;
    let echoes = echoes(&mut store, &instance)?;
    for delay in [false, true] {
        let context = || format!("with delay {delay}");
        echo_stream_u8(&mut store, &echoes, delay).await.with_context(context)?;
        echo_future_string(&mut store, &echoes, delay).await.with_context(context)?;
        short_reads(&mut store, &echoes, delay).await.with_context(context)?;
        dropped_future_reader(&mut store, &echoes, delay).await.with_context(context)?;
    }
    Ok(())
}

async fn echo_stream_u8(store: &mut wasmtime::Store<run::Host>, echoes: &Echoes, delay: bool) -> Result<()> {
    let expected: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    let sent = expected.clone();
    let func = echoes.stream_u8;
    let received = store
        .run_concurrent(async move |accessor| -> wasmtime::Result<Vec<u8>> {
            let input = accessor.with(|mut access| {
                StreamReader::new(&mut access, AllAtOnce::new(sent, delay))?.try_into_stream_any(&mut access)
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
        .map_err(|e| anyhow!("{e:?}"))?
        .map_err(|e| anyhow!("{e:?}"))?;
    assert_eq!(received, expected);
    Ok(())
}

async fn echo_future_string(store: &mut wasmtime::Store<run::Host>, echoes: &Echoes, delay: bool) -> Result<()> {
    let func = echoes.future_string;
    let received = store
        .run_concurrent(async move |accessor| -> wasmtime::Result<Option<String>> {
            let input = accessor.with(|mut access| {
                let value = async move {
                    pause(delay).await;
                    Ok::<_, wasmtime::Error>("Beware the Jubjub bird".to_string())
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
        .map_err(|e| anyhow!("{e:?}"))?
        .map_err(|e| anyhow!("{e:?}"))?;
    assert_eq!(received.as_deref(), Some("Beware the Jubjub bird"));
    Ok(())
}

/// `value` of every thing, through `[method]thing.get`.
async fn values_of(
    accessor: &wasmtime::component::Accessor<run::Host>,
    get: Func,
    things: &[ResourceAny],
) -> wasmtime::Result<Vec<String>> {
    let mut values = Vec::new();
    for thing in things {
        let mut results = vec![Val::Bool(false)];
        get.call_concurrent(accessor, &[Val::Resource(*thing)], &mut results).await?;
        let Val::String(value) = results.remove(0) else { wasmtime::bail!("`get` returned no string") };
        values.push(value);
    }
    Ok(values)
}

async fn short_reads(store: &mut wasmtime::Store<run::Host>, echoes: &Echoes, delay: bool) -> Result<()> {
    let names = ["a", "b", "c", "d", "e"];
    let mut things = Vec::new();
    for name in names {
        let mut results = vec![Val::Bool(false)];
        echoes
            .thing_new
            .call_async(&mut *store, &[Val::String(name.into())], &mut results)
            .await
            .map_err(|e| anyhow!("{e:?}"))?;
        let Val::Resource(thing) = results[0] else { panic!("the constructor returned {:?}", results[0]) };
        things.push(thing);
    }
    let (func, get) = (echoes.short_reads, echoes.thing_get);
    let (values, received) = store
        .run_concurrent(async move |accessor| -> wasmtime::Result<(Vec<String>, Vec<ResourceAny>)> {
            let input = accessor.with(|mut access| {
                StreamReader::new(&mut access, AllAtOnce::new(things, delay))?.try_into_stream_any(&mut access)
            })?;
            let mut results = vec![Val::Bool(false)];
            func.call_concurrent(accessor, &[Val::Stream(input)], &mut results).await?;
            let Val::Stream(output) = results.remove(0) else { wasmtime::bail!("not a stream") };
            // One thing per read: every write of the guest is short, and it
            // takes the unread things back (its Python code checks that
            // they are intact, and traps otherwise).
            let (collect, items, done) = Collect::<ResourceAny>::new(1, delay);
            accessor.with(|mut access| output.try_into_stream_reader::<ResourceAny>()?.pipe(&mut access, collect))?;
            until(&done).await?;
            let received = items.lock().unwrap().clone();
            let values = values_of(accessor, get, &received).await?;
            Ok((values, received))
        })
        .await
        .map_err(|e| anyhow!("{e:?}"))?
        .map_err(|e| anyhow!("{e:?}"))?;
    for thing in received {
        thing.resource_drop_async(&mut *store).await.map_err(|e| anyhow!("{e:?}"))?;
    }
    assert_eq!(values, names);
    Ok(())
}

async fn dropped_future_reader(store: &mut wasmtime::Store<run::Host>, echoes: &Echoes, delay: bool) -> Result<()> {
    let (func, get) = (echoes.dropped_future_reader, echoes.thing_get);
    let (values, thing) = store
        .run_concurrent(async move |accessor| -> wasmtime::Result<(Vec<String>, ResourceAny)> {
            let mut results = vec![Val::Bool(false)];
            func.call_concurrent(accessor, &[Val::String("jubjub".into())], &mut results).await?;
            let Val::Tuple(mut pair) = results.remove(0) else { wasmtime::bail!("not a tuple") };
            let (Val::Future(second), Val::Future(mut first)) = (pair.remove(1), pair.remove(0)) else {
                wasmtime::bail!("not two futures")
            };
            pause(delay).await;
            // Drop the first reader unread: the guest's write reports it.
            accessor.with(|mut access| first.close(&mut access))?;
            let (keep, value, done) = Keep::<ResourceAny>::new(delay);
            accessor.with(|mut access| second.try_into_future_reader::<ResourceAny>()?.pipe(&mut access, keep))?;
            until(&done).await?;
            let thing = value.lock().unwrap().take().ok_or_else(|| wasmtime::format_err!("no thing"))?;
            let values = values_of(accessor, get, &[thing]).await?;
            Ok((values, thing))
        })
        .await
        .map_err(|e| anyhow!("{e:?}"))?
        .map_err(|e| anyhow!("{e:?}"))?;
    thing.resource_drop_async(&mut *store).await.map_err(|e| anyhow!("{e:?}"))?;
    // The second future carries the thing that came back from the first.
    assert_eq!(values, ["jubjub/back"]);
    Ok(())
}

// ------------------------------------------- restore paths, cancellation, payloads

/// The host's `test:asyncs/cells#cell`s: rep -> value, while the guest or
/// the host holds a handle (the destructor removes it).
#[derive(Default)]
struct Cells {
    next: u32,
    live: std::collections::BTreeMap<u32, String>,
}

/// The host side of `cell` (its reps index `Cells::live`).
struct CellRep;

/// A linker with WASI and `test:asyncs/cells`, the cells kept in `cells`.
fn cells_linker(engine: &wasmtime::Engine, cells: Arc<Mutex<Cells>>) -> Result<Linker<run::Host>> {
    let mut linker: Linker<run::Host> = run::linker(engine)?;
    let mut iface = linker.instance("test:asyncs/cells").map_err(|e| anyhow!("{e:?}"))?;
    let dtor_cells = cells.clone();
    iface
        .resource("cell", wasmtime::component::ResourceType::host::<CellRep>(), move |_, rep| {
            dtor_cells.lock().unwrap().live.remove(&rep);
            Ok(())
        })
        .map_err(|e| anyhow!("{e:?}"))?;
    let new_cells = cells.clone();
    iface
        .func_new("[constructor]cell", move |mut store, _ty, params, results| {
            let Val::String(value) = &params[0] else { wasmtime::bail!("bad argument: {params:?}") };
            let rep = {
                let mut cells = new_cells.lock().unwrap();
                cells.next += 1;
                let rep = cells.next;
                cells.live.insert(rep, value.clone());
                rep
            };
            let own = wasmtime::component::Resource::<CellRep>::new_own(rep);
            results[0] = Val::Resource(ResourceAny::try_from_resource(own, &mut store)?);
            Ok(())
        })
        .map_err(|e| anyhow!("{e:?}"))?;
    iface
        .func_new("[method]cell.get", move |mut store, _ty, params, results| {
            let Val::Resource(cell) = &params[0] else { wasmtime::bail!("bad argument: {params:?}") };
            let rep = cell.try_into_resource::<CellRep>(&mut store)?.rep();
            let value = cells.lock().unwrap().live.get(&rep).cloned();
            let value = value.ok_or_else(|| wasmtime::format_err!("no cell {rep}"))?;
            results[0] = Val::String(value);
            Ok(())
        })
        .map_err(|e| anyhow!("{e:?}"))?;
    Ok(linker)
}

/// A host reader that takes `n` items of the guest's first write, then
/// closes its end (the rest of that write stays the guest's).
struct TakeThenDrop<T> {
    items: Arc<Mutex<Vec<T>>>,
    n: usize,
    done: Arc<AtomicBool>,
}

impl<T> TakeThenDrop<T> {
    fn new(n: usize) -> (Self, Arc<Mutex<Vec<T>>>, Arc<AtomicBool>) {
        let items = Arc::new(Mutex::new(Vec::new()));
        let done = Arc::new(AtomicBool::new(false));
        (TakeThenDrop { items: items.clone(), n, done: done.clone() }, items, done)
    }
}

impl<T> Drop for TakeThenDrop<T> {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
    }
}

impl<D, T: Lift + Send + 'static> StreamConsumer<D> for TakeThenDrop<T> {
    type Item = T;

    fn poll_consume(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        mut store: StoreContextMut<D>,
        mut source: Source<Self::Item>,
        _: bool,
    ) -> Poll<wasmtime::Result<StreamResult>> {
        let mut items = self.items.lock().unwrap();
        for _ in 0..self.n {
            let mut one = None;
            source.read(&mut store, &mut one)?;
            items.extend(one);
        }
        Poll::Ready(Ok(StreamResult::Dropped))
    }
}

/// A host writer that has nothing to give until the guest cancelled a read
/// (counted in `cancels`), then gives `data` and closes.
struct AfterCancel {
    data: Vec<u8>,
    cancels: Arc<AtomicUsize>,
}

impl<D> StreamProducer<D> for AfterCancel {
    type Item = u8;
    type Buffer = VecBuffer<u8>;

    fn poll_produce(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: StoreContextMut<D>,
        mut destination: Destination<Self::Item, Self::Buffer>,
        finish: bool,
    ) -> Poll<wasmtime::Result<StreamResult>> {
        if finish {
            // The guest cancels its read: nothing was given.
            self.cancels.fetch_add(1, Ordering::SeqCst);
            return Poll::Ready(Ok(StreamResult::Cancelled));
        }
        if self.cancels.load(Ordering::SeqCst) == 0 {
            // Only the cancellation polls this again.
            return Poll::Pending;
        }
        let data = std::mem::take(&mut self.data);
        destination.set_buffer(data.into());
        Poll::Ready(Ok(StreamResult::Dropped))
    }
}

/// A host reader that takes nothing until the guest cancelled a write
/// (counted in `cancels`), then everything, into `items`; sets `seen` when
/// it first saw a write, `done` when dropped.
struct CollectAfterCancel {
    items: Arc<Mutex<Vec<u8>>>,
    cancels: Arc<AtomicUsize>,
    seen: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
}

impl Drop for CollectAfterCancel {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
    }
}

impl<D> StreamConsumer<D> for CollectAfterCancel {
    type Item = u8;

    fn poll_consume(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        mut store: StoreContextMut<D>,
        mut source: Source<Self::Item>,
        finish: bool,
    ) -> Poll<wasmtime::Result<StreamResult>> {
        if finish {
            self.cancels.fetch_add(1, Ordering::SeqCst);
            return Poll::Ready(Ok(StreamResult::Cancelled));
        }
        if self.cancels.load(Ordering::SeqCst) == 0 {
            // Only the cancellation polls this again.
            self.seen.store(true, Ordering::SeqCst);
            return Poll::Pending;
        }
        let count = source.remaining(&mut store);
        let mut items = self.items.lock().unwrap();
        items.reserve(count);
        source.read(&mut store, items.deref_mut())?;
        Poll::Ready(Ok(StreamResult::Completed))
    }
}

/// Function `name` of the exported interface `iface` of `instance`.
fn export(
    store: &mut wasmtime::Store<run::Host>,
    instance: &wasmtime::component::Instance,
    iface: &str,
    name: &str,
) -> Result<Func> {
    let scope = instance
        .get_export_index(&mut *store, None, iface)
        .ok_or_else(|| anyhow!("no `{iface}`"))?;
    let index = instance
        .get_export_index(&mut *store, Some(&scope), name)
        .ok_or_else(|| anyhow!("no `{name}` in `{iface}`"))?;
    instance.get_func(&mut *store, index).ok_or_else(|| anyhow!("`{name}` is not a function"))
}

/// The functions of `test:asyncs/more` in an instance of world
/// `streams-more`.
struct More {
    imported_restore: Func,
    nested_restore: Func,
    cancel_read: Func,
    cancel_write: Func,
    echo_s8: Func,
    echo_u32: Func,
    echo_string: Func,
}

fn more(store: &mut wasmtime::Store<run::Host>, instance: &wasmtime::component::Instance) -> Result<More> {
    let mut func = |name: &str| export(store, instance, "test:asyncs/more", name);
    Ok(More {
        imported_restore: func("imported-restore")?,
        nested_restore: func("nested-restore")?,
        cancel_read: func("cancel-read")?,
        cancel_write: func("cancel-write")?,
        echo_s8: func("echo-s8")?,
        echo_u32: func("echo-u32")?,
        echo_string: func("echo-string")?,
    })
}

/// World `streams-more` (`tests/fixtures/async/more.py`): what a short
/// write gives back when its items are imported resources or stream
/// readers, cancelled reads and writes, and `stream<s8>`, `stream<u32>`,
/// `stream<string>` echoed; one instance, with and without host delays.
#[tokio::test(flavor = "current_thread")]
async fn streams_restore_cancel_and_payloads() -> Result<()> {
    let (_tmp, wasm) = build("streams-more", "more");
    let engine = run::engine_for(&run::Limits::default(), true)?;
    let component = run::load(&engine, &wasm)?;
    let cells = Arc::new(Mutex::new(Cells::default()));
    let linker = cells_linker(&engine, cells.clone())?;
    let mut store = run::store(&engine, &[]);
    let instance = linker.instantiate_async(&mut store, &component).await.map_err(|e| anyhow!("{e:?}"))?;
    let more = more(&mut store, &instance)?;
    for delay in [false, true] {
        let context = || format!("with delay {delay}");
        imported_restore(&mut store, &more, &cells).await.context("imported-restore").with_context(context)?;
        nested_restore(&mut store, &more, delay).await.context("nested-restore").with_context(context)?;
        cancel_read(&mut store, &more).await.context("cancel-read").with_context(context)?;
        cancel_write(&mut store, &more).await.context("cancel-write").with_context(context)?;
        let s8: Vec<i8> = (i8::MIN..=i8::MAX).collect();
        echo(&mut store, more.echo_s8, s8, delay).await.context("echo-s8").with_context(context)?;
        let u32s = vec![0, 1, u32::MAX, 0x8000_0000, 42, 7, 0xdead_beef];
        echo(&mut store, more.echo_u32, u32s, delay).await.context("echo-u32").with_context(context)?;
        let strings: Vec<String> =
            ["", "a", "Beware the Jubjub bird", "é", "日本", "🦀🦀", "shun the frumious Bandersnatch"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        echo(&mut store, more.echo_string, strings, delay).await.context("echo-string").with_context(context)?;
    }
    Ok(())
}

async fn imported_restore(
    store: &mut wasmtime::Store<run::Host>,
    more: &More,
    cells: &Arc<Mutex<Cells>>,
) -> Result<()> {
    let values = ["a", "b", "c", "d", "e"];
    let func = more.imported_restore;
    let sent = Val::List(values.iter().map(|v| Val::String(v.to_string())).collect());
    let (taken, back) = store
        .run_concurrent(async move |accessor| -> wasmtime::Result<(Vec<u32>, Option<Vec<String>>)> {
            let mut results = vec![Val::Bool(false)];
            func.call_concurrent(accessor, &[sent], &mut results).await?;
            let Val::Tuple(mut pair) = results.remove(0) else { wasmtime::bail!("not a tuple") };
            let (Val::Future(back), Val::Stream(cells)) = (pair.remove(1), pair.remove(0)) else {
                wasmtime::bail!("not a stream and a future")
            };
            // Two cells of the guest's one write of five, then the end closes.
            let (take, items, done) = TakeThenDrop::<ResourceAny>::new(2);
            accessor.with(|mut access| cells.try_into_stream_reader::<ResourceAny>()?.pipe(&mut access, take))?;
            until(&done).await?;
            let (keep, value, done) = Keep::<Vec<String>>::new(false);
            accessor.with(|mut access| back.try_into_future_reader::<Vec<String>>()?.pipe(&mut access, keep))?;
            until(&done).await?;
            let received = std::mem::take(&mut *items.lock().unwrap());
            let taken = accessor.with(|mut access| {
                received
                    .into_iter()
                    .map(|cell| Ok(cell.try_into_resource::<CellRep>(&mut access)?.rep()))
                    .collect::<wasmtime::Result<Vec<u32>>>()
            })?;
            let back = value.lock().unwrap().take();
            Ok((taken, back))
        })
        .await
        .map_err(|e| anyhow!("{e:?}"))?
        .map_err(|e| anyhow!("{e:?}"))?;
    let mut cells = cells.lock().unwrap();
    // The host got the first two cells.
    let taken: Vec<String> = taken.iter().map(|rep| cells.live.remove(rep).unwrap_or_default()).collect();
    assert_eq!(taken, ["a", "b"]);
    // The other three came back to the guest with working handles: `get`
    // reached the host through each.
    assert_eq!(back.as_deref(), Some(&["c", "d", "e"].map(String::from)[..]));
    // And the guest dropped them: no cell is left.
    assert!(cells.live.is_empty(), "cells not dropped: {:?}", cells.live);
    Ok(())
}

async fn nested_restore(store: &mut wasmtime::Store<run::Host>, more: &More, delay: bool) -> Result<()> {
    let func = more.nested_restore;
    let (first, rest) = store
        .run_concurrent(async move |accessor| -> wasmtime::Result<(Vec<u8>, Option<Vec<u8>>)> {
            let inputs = accessor.with(|mut access| {
                ["x0", "x1", "x2"]
                    .iter()
                    .map(|s| {
                        let producer = AllAtOnce::new(s.as_bytes().to_vec(), delay);
                        Ok(Val::Stream(StreamReader::new(&mut access, producer)?.try_into_stream_any(&mut access)?))
                    })
                    .collect::<wasmtime::Result<Vec<Val>>>()
            })?;
            let mut results = vec![Val::Bool(false)];
            func.call_concurrent(accessor, &[Val::List(inputs)], &mut results).await?;
            let Val::Tuple(mut pair) = results.remove(0) else { wasmtime::bail!("not a tuple") };
            let (Val::Future(rest), Val::Stream(readers)) = (pair.remove(1), pair.remove(0)) else {
                wasmtime::bail!("not a stream and a future")
            };
            // One reader of the guest's one write of three.
            let (take, items, done) = TakeThenDrop::<StreamReader<u8>>::new(1);
            accessor.with(|mut access| readers.try_into_stream_reader::<StreamReader<u8>>()?.pipe(&mut access, take))?;
            until(&done).await?;
            let inner = items.lock().unwrap().pop().ok_or_else(|| wasmtime::format_err!("no reader"))?;
            let (collect, bytes, done) = Collect::<u8>::new(usize::MAX, delay);
            accessor.with(|mut access| inner.pipe(&mut access, collect))?;
            until(&done).await?;
            let (keep, value, done) = Keep::<Vec<u8>>::new(delay);
            accessor.with(|mut access| rest.try_into_future_reader::<Vec<u8>>()?.pipe(&mut access, keep))?;
            until(&done).await?;
            let first = bytes.lock().unwrap().clone();
            let rest = value.lock().unwrap().take();
            Ok((first, rest))
        })
        .await
        .map_err(|e| anyhow!("{e:?}"))?
        .map_err(|e| anyhow!("{e:?}"))?;
    // The host read the reader it took; the guest read the two that came
    // back to it.
    assert_eq!(first, b"x0");
    assert_eq!(rest.as_deref(), Some(&b"x1x2"[..]));
    Ok(())
}

async fn cancel_read(store: &mut wasmtime::Store<run::Host>, more: &More) -> Result<()> {
    let func = more.cancel_read;
    let cancels = Arc::new(AtomicUsize::new(0));
    let producer = AfterCancel { data: b"after the cancel".to_vec(), cancels: cancels.clone() };
    let got = store
        .run_concurrent(async move |accessor| -> wasmtime::Result<Val> {
            let input = accessor
                .with(|mut access| StreamReader::new(&mut access, producer)?.try_into_stream_any(&mut access))?;
            let mut results = vec![Val::Bool(false)];
            func.call_concurrent(accessor, &[Val::Stream(input)], &mut results).await?;
            Ok(results.remove(0))
        })
        .await
        .map_err(|e| anyhow!("{e:?}"))?
        .map_err(|e| anyhow!("{e:?}"))?;
    // The host saw the guest cancel its first read (once), and the read
    // after it got everything.
    assert_eq!(cancels.load(Ordering::SeqCst), 1);
    let expected: Vec<Val> = b"after the cancel".iter().map(|b| Val::U8(*b)).collect();
    assert_eq!(got, Val::List(expected));
    Ok(())
}

async fn cancel_write(store: &mut wasmtime::Store<run::Host>, more: &More) -> Result<()> {
    let func = more.cancel_write;
    let data: Vec<u8> = (0..200u8).collect();
    let sent = Val::List(data.iter().map(|b| Val::U8(*b)).collect());
    let cancels = Arc::new(AtomicUsize::new(0));
    let host_cancels = cancels.clone();
    let seen = Arc::new(AtomicBool::new(false));
    let received = store
        .run_concurrent(async move |accessor| -> wasmtime::Result<Vec<u8>> {
            // `ready` gets its value once the host's reader saw the write:
            // the guest cancels only then.
            let ready_seen = seen.clone();
            let ready = accessor.with(|mut access| {
                let ready = async move {
                    until(&ready_seen).await?;
                    Ok::<_, wasmtime::Error>(1u8)
                };
                FutureReader::new(&mut access, ready)?.try_into_future_any(&mut access)
            })?;
            let mut results = vec![Val::Bool(false)];
            func.call_concurrent(accessor, &[sent, Val::Future(ready)], &mut results).await?;
            let Val::Stream(output) = results.remove(0) else { wasmtime::bail!("not a stream") };
            let items = Arc::new(Mutex::new(Vec::new()));
            let done = Arc::new(AtomicBool::new(false));
            let collect =
                CollectAfterCancel { items: items.clone(), cancels: host_cancels, seen, done: done.clone() };
            accessor.with(|mut access| output.try_into_stream_reader::<u8>()?.pipe(&mut access, collect))?;
            until(&done).await?;
            let items = items.lock().unwrap().clone();
            Ok(items)
        })
        .await
        .map_err(|e| anyhow!("{e:?}"))?
        .map_err(|e| anyhow!("{e:?}"))?;
    // The cancelled write delivered nothing; the one after it all, once.
    assert_eq!(cancels.load(Ordering::SeqCst), 1);
    assert_eq!(received, data);
    Ok(())
}

/// `items` through an echo export of a `stream<T>`.
async fn echo<T>(store: &mut wasmtime::Store<run::Host>, func: Func, items: Vec<T>, delay: bool) -> Result<()>
where
    T: Lift + wasmtime::component::Lower + Clone + PartialEq + std::fmt::Debug + Unpin + Send + Sync + 'static,
{
    let sent = items.clone();
    let received = store
        .run_concurrent(async move |accessor| -> wasmtime::Result<Vec<T>> {
            let input = accessor.with(|mut access| {
                StreamReader::new(&mut access, AllAtOnce::new(sent, delay))?.try_into_stream_any(&mut access)
            })?;
            let mut results = vec![Val::Bool(false)];
            func.call_concurrent(accessor, &[Val::Stream(input)], &mut results).await?;
            let Val::Stream(output) = results.remove(0) else { wasmtime::bail!("not a stream") };
            let (collect, items, done) = Collect::<T>::new(2, delay);
            accessor.with(|mut access| output.try_into_stream_reader::<T>()?.pipe(&mut access, collect))?;
            until(&done).await?;
            let items = items.lock().unwrap().clone();
            Ok(items)
        })
        .await
        .map_err(|e| anyhow!("{e:?}"))?
        .map_err(|e| anyhow!("{e:?}"))?;
    assert_eq!(received, items);
    Ok(())
}
