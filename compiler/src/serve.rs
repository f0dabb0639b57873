//! `componentize-py serve`: an HTTP/1.1 server that hands each request to a
//! `wasi:http/proxy` component's `wasi:http/incoming-handler`, on the
//! embedded Wasmtime and `wasmtime-wasi-http` (as `wasmtime serve` does), or
//! to a `wasi:http/service@0.3.0` component's async `wasi:http/handler`
//! ([`crate::serve_p3`]).
//!
//! The component is compiled once and pre-instantiated ([`ProxyPre`]); each
//! request gets a fresh store and instance, so requests share no guest
//! state and a trap in one request leaves the server serving. When the
//! guest traps before it set a response (a Python exception in the handler:
//! the runtime prints the traceback on the server's stderr, then traps), the
//! client gets `500 Internal Server Error`. Outgoing requests
//! (`wasi:http/outgoing-handler`) are sent over HTTP/1.1 or HTTPS
//! ([`crate::outgoing`]).

use crate::run::load_tagged;
use crate::WasmtimeResultExt;
use anyhow::{bail, Context, Result};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::handler::ProxyHandler;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{
    Error as HttpError, RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks,
    WasiHttpView,
};

/// Up to this size a memory image is always made copy-on-write mappable.
const DENSE_IMAGE_SIZE: u64 = 256 << 20;

/// The engine of `serve`: epoch checks in the compiled code only when a
/// `timeout` needs them; Wasmtime's concurrency support only for a
/// component of the async ABI (`async_`).
fn engine(timeout: Option<Duration>, async_: bool) -> Result<Engine> {
    let mut config = Config::new();
    config.epoch_interruption(timeout.is_some());
    // The snapshot's memory image spans some 18 MiB, more than twice its
    // data; under Wasmtime's default 16 MiB limit it would copy the data
    // segments into every instance (measured: 5 ms of a 7.4 ms request)
    // instead of mapping one copy-on-write image (60 µs).
    config.memory_guaranteed_dense_image_size(DENSE_IMAGE_SIZE);
    // wasi:http 0.2 proxies (no async ABI): calls stay off Wasmtime's task
    // machinery, as before the `component-model-async` feature.
    config.concurrency_support(async_);
    if async_ {
        config.wasm_component_model_async(true);
    }
    Engine::new(&config).anyhow().context("creating the Wasmtime engine")
}

/// Per-request host state: WASI (stdio inherited from the server), HTTP,
/// and their resource table.
pub struct RequestHost {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: Outgoing,
    table: ResourceTable,
}

/// Hooks that keep `wasmtime-wasi-http`'s defaults except outgoing requests,
/// which [`crate::outgoing::Client::send`] sends.
struct Outgoing(crate::outgoing::Client);

impl RequestHost {
    /// The state of one request: stdio inherited, `name` as `argv[0]`,
    /// outgoing requests through `client`.
    fn new(name: &str, client: crate::outgoing::Client) -> Self {
        let mut wasi = WasiCtxBuilder::new();
        wasi.inherit_stdio().arg(name);
        RequestHost {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            hooks: Outgoing(client),
            table: ResourceTable::new(),
        }
    }
}

impl WasiHttpHooks for Outgoing {
    fn send_request(
        &mut self,
        request: hyper::Request<WasiBody>,
        options: Option<RequestOptions>,
        _done: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<OutgoingResponse> {
        Box::new(self.0.clone().send(request, options))
    }
}

/// What [`WasiHttpHooks::send_request`] returns: the response and a future
/// for the rest of its body.
type OutgoingResponse = dyn Future<
        Output = Result<
            (
                hyper::Response<WasiBody>,
                Box<dyn Future<Output = Result<(), HttpError>> + Send>,
            ),
            HttpError,
        >,
    > + Send;

impl WasiView for RequestHost {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for RequestHost {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// The component's handler: a WASI 0.2 proxy's, or a WASI 0.3 service's.
enum Handler {
    P2(ProxyPre<RequestHost>),
    P3(ProxyHandler<crate::serve_p3::Service>),
}

/// What every connection task shares.
struct Server {
    handler: Handler,
    /// The component's path, the guest's `argv[0]`.
    name: String,
    /// `--timeout`: the most a request's handler may take.
    timeout: Option<Duration>,
    /// How outgoing requests connect (`--tls-ca-file`).
    client: crate::outgoing::Client,
}

/// With `--timeout`, the engine's epoch advances every `EPOCH_TICK`; a
/// request's store traps once its deadline (in ticks) has passed.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// `componentize-py serve`: serve HTTP on `addr` with the component at
/// `path` until Ctrl-C. Prints `Serving HTTP on http://ADDR/` (the bound
/// address, so port 0 shows the port chosen) once it accepts connections.
/// Outgoing `https` requests trust the Mozilla roots and the PEM
/// certificates in `tls_ca_files`.
pub fn serve(path: &Path, addr: SocketAddr, timeout: Option<Duration>, tls_ca_files: &[PathBuf]) -> Result<()> {
    let client = crate::outgoing::Client::new(tls_ca_files)?;
    // A component of the async ABI (a WASI 0.3 service) needs the engine's
    // concurrency support; a precompiled file is tried with either.
    let bytes = std::fs::read(path).with_context(|| format!("reading `{}`", path.display()))?;
    let (engine, component) = if Engine::detect_precompiled(&bytes).is_some() {
        let sync_engine = engine(timeout, false)?;
        match load_tagged(&sync_engine, path, "serve-dense-image") {
            Ok(component) => (sync_engine, component),
            Err(error) => {
                let async_engine = engine(timeout, true)?;
                let component = load_tagged(&async_engine, path, "serve-dense-image").map_err(|_| error)?;
                (async_engine, component)
            }
        }
    } else {
        let engine = engine(timeout, crate::run::uses_async(&bytes))?;
        // Its own cache entry: the dense-image setting changes the compiled
        // artifact but not Wasmtime's compatibility hash.
        let component = load_tagged(&engine, path, "serve-dense-image")?;
        (engine, component)
    };
    let mut linker: Linker<RequestHost> = crate::run::linker(&engine)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
        .anyhow()
        .context("adding WASI HTTP to the linker")?;
    let p3 = crate::serve_p3::exports_handler(&engine, &component);
    if p3 {
        crate::serve_p3::add_to_linker(&mut linker)?;
    }
    let pre = linker
        .instantiate_pre(&component)
        .anyhow()
        .with_context(|| format!("linking `{}`", path.display()))?;
    let name = path.display().to_string();
    let handler = if p3 {
        let (name, client) = (name.clone(), client.clone());
        let new_host = move || RequestHost::new(&name, client.clone());
        Handler::P3(crate::serve_p3::Service::new(pre, new_host, timeout).with_context(|| format!("`{}`", path.display()))?)
    } else {
        Handler::P2(ProxyPre::new(pre).anyhow().with_context(|| {
            format!(
                "`{}` does not export `wasi:http/incoming-handler` (build it for the world \
                 `wasi:http/proxy`) nor `wasi:http/handler@0.3.0` (world `wasi:http/service@0.3.0`)",
                path.display()
            )
        })?)
    };
    if timeout.is_some() {
        let engine = engine.clone();
        std::thread::Builder::new()
            .name("componentize-py-epoch".into())
            .spawn(move || loop {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            })
            .context("starting the timeout thread")?;
    }
    let server = Arc::new(Server {
        handler,
        name,
        timeout,
        client,
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(accept_loop(server, addr));
    // Requests still running are abandoned, not waited for.
    runtime.shutdown_timeout(Duration::from_millis(200));
    result
}

/// Accept connections until Ctrl-C; each connection is served by its own
/// task.
async fn accept_loop(server: Arc<Server>, addr: SocketAddr) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    let bound = listener.local_addr().context("reading the bound address")?;
    println!("Serving HTTP on http://{bound}/");
    let shutdown = tokio::signal::ctrl_c();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // E.g. too many open files: keep serving the others.
                    eprintln!("componentize-py serve: accepting a connection: {error}");
                    // The error usually persists for a while: do not spin.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            signal = &mut shutdown => {
                signal.context("waiting for Ctrl-C")?;
                eprintln!("componentize-py serve: shutting down");
                return Ok(());
            }
        };
        let server = server.clone();
        tokio::task::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let server = server.clone();
                async move { server.handle(request).await }
            });
            if let Err(error) = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                eprintln!("componentize-py serve: connection from {peer}: {error}");
            }
        });
    }
}

impl Server {
    /// One request: a fresh instance handles it. Never an `Err` (hyper would
    /// drop the connection): a guest failure becomes a 500 response and a
    /// line on stderr.
    async fn handle(
        &self,
        request: hyper::Request<hyper::body::Incoming>,
    ) -> Result<hyper::Response<HyperOutgoingBody>, std::convert::Infallible> {
        let what = format!("{} {}", request.method(), request.uri());
        let response = match &self.handler {
            Handler::P2(pre) => self.handle_in_guest(pre, request).await,
            Handler::P3(handler) => crate::serve_p3::handle(handler, what.clone(), request).await,
        };
        match response {
            Ok(response) => Ok(response),
            Err(error) => {
                let mut message = format!("componentize-py serve: {what}: {error}");
                for cause in error.chain().skip(1) {
                    message.push_str(&format!("\n  caused by: {cause}"));
                }
                eprintln!("{message}");
                Ok(plain_response(500, "Internal Server Error\n"))
            }
        }
    }

    /// One request to a WASI 0.2 proxy.
    async fn handle_in_guest(
        &self,
        pre: &ProxyPre<RequestHost>,
        request: hyper::Request<hyper::body::Incoming>,
    ) -> Result<hyper::Response<HyperOutgoingBody>> {
        let mut store = Store::new(pre.engine(), RequestHost::new(&self.name, self.client.clone()));
        if let Some(timeout) = self.timeout {
            let ticks = timeout.as_nanos() / EPOCH_TICK.as_nanos() + 1;
            store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX));
            store.epoch_deadline_trap();
        }
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let incoming = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request)
            .anyhow()
            .context("passing the request to the guest")?;
        let outparam = store
            .data_mut()
            .http()
            .new_response_outparam(sender)
            .anyhow()
            .context("creating the response slot")?;
        let pre = pre.clone();
        // The guest runs in its own task: it may go on writing the body
        // after it has set the response.
        let task = tokio::task::spawn(async move {
            let proxy = pre
                .instantiate_async(&mut store)
                .await
                .anyhow()
                .context("instantiating the component")?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, incoming, outparam)
                .await
                .anyhow()
                .context("calling `wasi:http/incoming-handler.handle`")
        });
        // A handler that waits on the host (not running guest code) is not
        // stopped by the epoch; the whole request is bounded as well.
        let receiver = match self.timeout {
            None => receiver.await,
            Some(timeout) => match tokio::time::timeout(timeout + EPOCH_TICK * 10, receiver).await {
                Ok(received) => received,
                Err(_) => {
                    task.abort();
                    bail!(timed_out(timeout));
                }
            },
        };
        match receiver {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(code)) => Err(anyhow::anyhow!("the guest answered with the error {code:?}")),
            // The store (and the sender in it) is gone: the guest returned
            // or trapped without setting a response.
            Err(_) => match task.await {
                Ok(Ok(())) => Err(anyhow::anyhow!("the guest did not set a response")),
                Ok(Err(error)) => match (self.timeout, error.root_cause().downcast_ref::<wasmtime::Trap>()) {
                    (Some(timeout), Some(wasmtime::Trap::Interrupt)) => Err(error.context(timed_out(timeout))),
                    _ => Err(error),
                },
                Err(join) => Err(anyhow::anyhow!("the guest's task failed: {join}")),
            },
        }
    }
}

/// What a request stopped by `--timeout` reports.
pub(crate) fn timed_out(timeout: Duration) -> String {
    format!("the handler ran longer than --timeout {timeout:?} and was stopped")
}

/// A response with `status` and a `text/plain` body.
fn plain_response(status: u16, body: &'static str) -> hyper::Response<HyperOutgoingBody> {
    let body = Full::new(Bytes::from_static(body.as_bytes()))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut response = hyper::Response::new(body);
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    response
        .headers_mut()
        .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("text/plain"));
    response
}
