//! The `kv` example end to end: the component imports `example:kv/store`
//! (a resource `bucket` and a variant error), which the example's own host
//! (examples/kv/host.rs, included here as a module) implements in memory.

use std::path::Path;

mod common;
use common::{componentize_py, repo, text};

#[path = "../../examples/kv/host.rs"]
mod host;

fn build(out: &Path) {
    let output = componentize_py(
        &repo().join("examples/kv"),
        &["-d", "wit", "componentize", "app", "-o", out.to_str().unwrap()],
    );
    assert!(output.status.success(), "build failed: {}", text(&output.stderr));
}

fn calls(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn counter_keeps_its_counts_in_the_host_store() {
    let tmp = tempfile::tempdir().unwrap();
    let wasm = tmp.path().join("kv.wasm");
    build(&wasm);
    let (results, contents) = host::run_calls(
        &wasm,
        100,
        &calls(&[
            r#"visit("home")"#,
            r#"visit("home")"#,
            r#"visit("about")"#,
            "report()",
            r#"reset("about")"#,
            r#"reset("about")"#,
            "report()",
        ]),
    )
    .unwrap();
    assert_eq!(
        results,
        ["ok(1)", "ok(2)", "ok(1)", r#""home: 2\nabout: 1""#, "true", "false", r#""home: 2""#]
    );
    // The host holds what the guest wrote: an 8-byte big-endian count.
    let visits = &contents.buckets["visits"];
    assert_eq!(visits.keys().collect::<Vec<_>>(), ["home"]);
    assert_eq!(visits["home"], 2u64.to_be_bytes());
    // Every bucket the guest opened (one per call, in a `with` block) was
    // dropped again.
    assert_eq!((contents.opened, contents.dropped), (7, 7));
}

#[test]
fn store_errors_become_the_exports_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let wasm = tmp.path().join("kv.wasm");
    build(&wasm);
    let (results, contents) = host::run_calls(
        &wasm,
        2,
        &calls(&[r#"visit("a")"#, r#"visit("b")"#, r#"visit("c")"#, r#"visit("a")"#, r#"visit(".hidden")"#]),
    )
    .unwrap();
    assert_eq!(
        results,
        [
            "ok(1)",
            "ok(1)",
            // error::quota-exceeded(2) from the host, raised as Err(...) by
            // the app and returned as the export's error case.
            r#"err("the store is full (limit: 2)")"#,
            "ok(2)",
            r#"err("invalid page name: .hidden")"#,
        ]
    );
    assert_eq!(contents.buckets["visits"].len(), 2);
    assert_eq!(contents.opened, contents.dropped);
}
