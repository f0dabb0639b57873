//! A host for the `kv` example: Wasmtime with WASI 0.2 and an in-memory
//! implementation of `example:kv/store`, which the component imports.
//!
//! ```sh
//! cargo run --release --example kv-host -- kv.wasm 'visit("home")' 'report()'
//! ```
//!
//! Each argument after the component is a call of an exported function in
//! WAVE syntax; the host prints each result in WAVE. All calls go to one
//! instance, so the store keeps its contents from call to call. The store
//! allows `--limit N` keys per bucket (default 100).
//!
//! compiler/tests/kv.rs uses this file as a module to test the example.

use anyhow::{anyhow, bail, Context, Result};
use componentize_py::run;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use wasmtime::component::{HasSelf, Linker, Resource, ResourceTable};
use wasmtime::Store;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

wasmtime::component::bindgen!({
    path: "../examples/kv/wit",
    world: "kv",
    with: { "example:kv/store.bucket": OpenBucket },
    // Host functions return `wasmtime::Result`: a host failure traps.
    imports: { default: trappable },
});

use example::kv::store::{Error, Host, HostBucket};

/// An open bucket: the name of the bucket a handle refers to.
pub struct OpenBucket {
    name: String,
}

/// The store's contents and counters, kept by the host between calls.
#[derive(Default)]
pub struct Contents {
    /// Bucket name -> key -> value.
    pub buckets: HashMap<String, BTreeMap<String, Vec<u8>>>,
    /// How many bucket handles the guest opened and dropped.
    pub opened: u32,
    pub dropped: u32,
}

/// Host state: WASI, the resource table and the store.
pub struct KvHost {
    wasi: WasiCtx,
    table: ResourceTable,
    /// Most keys per bucket.
    limit: u32,
    pub contents: Contents,
}

impl WasiView for KvHost {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl Host for KvHost {}

impl HostBucket for KvHost {
    fn open(&mut self, name: String) -> wasmtime::Result<Result<Resource<OpenBucket>, Error>> {
        if let Err(error) = check_key(&name) {
            return Ok(Err(error));
        }
        self.contents.buckets.entry(name.clone()).or_default();
        self.contents.opened += 1;
        Ok(Ok(self.table.push(OpenBucket { name })?))
    }

    fn get(&mut self, bucket: Resource<OpenBucket>, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        Ok(self.bucket(&bucket)?.get(&key).cloned())
    }

    fn set(
        &mut self,
        bucket: Resource<OpenBucket>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        if let Err(error) = check_key(&key) {
            return Ok(Err(error));
        }
        let limit = self.limit;
        let bucket = self.bucket(&bucket)?;
        if !bucket.contains_key(&key) && bucket.len() >= limit as usize {
            return Ok(Err(Error::QuotaExceeded(limit)));
        }
        bucket.insert(key, value);
        Ok(Ok(()))
    }

    fn delete(&mut self, bucket: Resource<OpenBucket>, key: String) -> wasmtime::Result<bool> {
        Ok(self.bucket(&bucket)?.remove(&key).is_some())
    }

    fn keys(&mut self, bucket: Resource<OpenBucket>) -> wasmtime::Result<Vec<String>> {
        Ok(self.bucket(&bucket)?.keys().cloned().collect())
    }

    fn drop(&mut self, bucket: Resource<OpenBucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        self.contents.dropped += 1;
        Ok(())
    }
}

impl KvHost {
    /// The contents of the bucket behind a handle.
    fn bucket(&mut self, handle: &Resource<OpenBucket>) -> wasmtime::Result<&mut BTreeMap<String, Vec<u8>>> {
        let name = self.table.get(handle)?.name.clone();
        Ok(self.contents.buckets.entry(name).or_default())
    }
}

/// Keys and bucket names: 1 to 64 characters, not starting with a dot.
fn check_key(key: &str) -> Result<(), Error> {
    if key.is_empty() || key.chars().count() > 64 || key.starts_with('.') {
        return Err(Error::InvalidKey(key.to_string()));
    }
    Ok(())
}

/// Instantiate the component at `path` with a store of `limit` keys per
/// bucket and make each of `calls` (WAVE); return the results in WAVE and
/// the store's final contents.
pub fn run_calls(path: &Path, limit: u32, calls: &[String]) -> Result<(Vec<String>, Contents)> {
    let engine = run::engine()?;
    let component = run::load(&engine, path)?;
    let mut linker: Linker<KvHost> = run::linker(&engine)?;
    example::kv::store::add_to_linker::<_, HasSelf<_>>(&mut linker, |host| host)
        .map_err(|e| anyhow!("{e:?}"))?;
    let host = KvHost {
        wasi: WasiCtxBuilder::new().inherit_stdio().build(),
        table: ResourceTable::new(),
        limit,
        contents: Contents::default(),
    };
    let mut store = Store::new(&engine, host);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let results = runtime.block_on(async {
        let instance = linker
            .instantiate_async(&mut store, &component)
            .await
            .map_err(|e| anyhow!("{e:?}"))
            .context("instantiating the component")?;
        let mut results = Vec::new();
        for call in calls {
            let values = run::call_wave(&mut store, &component, &instance, call).await?;
            let text: Vec<String> = values
                .iter()
                .map(|v| wasmtime::component::wasm_wave::to_string(v).map_err(|e| anyhow!("{e}")))
                .collect::<Result<_>>()?;
            results.push(text.join(" "));
        }
        anyhow::Ok(results)
    })?;
    Ok((results, store.into_data().contents))
}

#[allow(dead_code)] // a module of compiler/tests/kv.rs, where main is unused
fn main() -> Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut limit = 100;
    if let Some(i) = args.iter().position(|a| a == "--limit") {
        let value = args.get(i + 1).context("--limit needs a number")?;
        limit = value.parse().with_context(|| format!("--limit `{value}` is not a number"))?;
        args.drain(i..i + 2);
    }
    let Some((component, calls)) = args.split_first() else {
        bail!("usage: kv-host [--limit N] COMPONENT CALL...   (CALL in WAVE, e.g. 'visit(\"home\")')");
    };
    let (results, contents) = run_calls(Path::new(component), limit, calls)?;
    for result in results {
        println!("{result}");
    }
    eprintln!(
        "kv-host: {} bucket handles opened, {} dropped",
        contents.opened, contents.dropped
    );
    Ok(())
}
