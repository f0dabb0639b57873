//! End-to-end tests of the component model's async ABI: the real
//! `componentize-py` binary builds `tests/fixtures/async`, and real
//! Wasmtime runs it, through `run --invoke` (world `simple`, no imports but
//! WASI) and through a Rust host here (world `asyncs`), whose async import
//! `test:asyncs/host#later` completes on a tokio timer: WAVE cannot
//! express a host that answers later.

use anyhow::{anyhow, Result};
use componentize_py::run;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{Linker, Val};

mod common;
use common::{componentize_py, repo, text};

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
