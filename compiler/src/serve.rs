//! `componentize-py serve`: an HTTP/1.1 server that hands each request to a
//! `wasi:http/proxy` component's `wasi:http/incoming-handler`, on the
//! embedded Wasmtime and `wasmtime-wasi-http` (as `wasmtime serve` does).
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
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{
    Error as HttpError, RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks,
    WasiHttpView,
};

/// Up to this size a memory image is always made copy-on-write mappable.
const DENSE_IMAGE_SIZE: u64 = 256 << 20;

/// Per-request host state: WASI (stdio inherited from the server), HTTP,
/// and their resource table.
struct RequestHost {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: Outgoing,
    table: ResourceTable,
}

/// Hooks that keep `wasmtime-wasi-http`'s defaults except outgoing requests,
/// which [`crate::outgoing::Client::send`] sends.
struct Outgoing(crate::outgoing::Client);

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

/// What every connection task shares.
struct Server {
    pre: ProxyPre<RequestHost>,
    /// The component's path, the guest's `argv[0]`.
    name: String,
    /// `--timeout`: the most a request's handler may take.
    timeout: Option<Duration>,
    /// How outgoing requests connect (`--tls-ca-file`).
    client: crate::outgoing::Client,
}

/// With `--timeout`, the engine's epoch advances every `EPOCH_TICK`; a
/// request's store traps once its deadline (in ticks) has passed.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// `componentize-py serve`: serve HTTP on `addr` with the component at
/// `path` until Ctrl-C. Prints `Serving HTTP on http://ADDR/` (the bound
/// address, so port 0 shows the port chosen) once it accepts connections.
/// Outgoing `https` requests trust the Mozilla roots and the PEM
/// certificates in `tls_ca_files`.
pub fn serve(path: &Path, addr: SocketAddr, timeout: Option<Duration>, tls_ca_files: &[PathBuf]) -> Result<()> {
    let client = crate::outgoing::Client::new(tls_ca_files)?;
    let mut config = Config::new();
    // Epoch checks in the compiled code only when a timeout needs them.
    config.epoch_interruption(timeout.is_some());
    // The snapshot's memory image spans some 18 MiB, more than twice its
    // data; under Wasmtime's default 16 MiB limit it would copy the data
    // segments into every instance (measured: 5 ms of a 7.4 ms request)
    // instead of mapping one copy-on-write image (60 µs).
    config.memory_guaranteed_dense_image_size(DENSE_IMAGE_SIZE);
    // wasi:http 0.2 proxies only (no async ABI): calls stay off Wasmtime's
    // task machinery, as before the `component-model-async` feature.
    config.concurrency_support(false);
    let engine = Engine::new(&config).anyhow().context("creating the Wasmtime engine")?;
    // Its own cache entry: the setting above changes the compiled artifact
    // but not Wasmtime's compatibility hash.
    let component = load_tagged(&engine, path, "serve-dense-image")?;
    let mut linker: Linker<RequestHost> = crate::run::linker(&engine)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
        .anyhow()
        .context("adding WASI HTTP to the linker")?;
    let pre = linker
        .instantiate_pre(&component)
        .anyhow()
        .with_context(|| format!("linking `{}`", path.display()))?;
    let pre = ProxyPre::new(pre).anyhow().with_context(|| {
        format!(
            "`{}` does not export `wasi:http/incoming-handler` (build it for the world `wasi:http/proxy`)",
            path.display()
        )
    })?;
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
        pre,
        name: path.display().to_string(),
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
        match self.handle_in_guest(request).await {
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

    async fn handle_in_guest(
        &self,
        request: hyper::Request<hyper::body::Incoming>,
    ) -> Result<hyper::Response<HyperOutgoingBody>> {
        let mut wasi = WasiCtxBuilder::new();
        wasi.inherit_stdio().arg(&self.name);
        let mut store = Store::new(
            self.pre.engine(),
            RequestHost {
                wasi: wasi.build(),
                http: WasiHttpCtx::new(),
                hooks: Outgoing(self.client.clone()),
                table: ResourceTable::new(),
            },
        );
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
        let pre = self.pre.clone();
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
fn timed_out(timeout: Duration) -> String {
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
