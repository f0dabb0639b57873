//! `componentize-py serve` for WASI 0.3 services: components that export
//! `wasi:http/handler@0.3.x` (world `wasi:http/service@0.3.0`), on
//! `wasmtime-wasi-http`'s `p3` host and its [`ProxyHandler`].
//!
//! As for 0.2 proxies ([`crate::serve`]), each request gets a fresh store
//! and instance ([`OneRequest`] accepts one request per instance), stdio is
//! the server's, outgoing requests go through [`crate::outgoing`], and
//! `--timeout` bounds a request with a 500. What differs: `handle` is an
//! async function that returns the response, and the response's body is a
//! `stream<u8>` the guest may go on writing after `handle` has returned.
//! The instance lives until the guest's tasks have all exited (the
//! handler's event loop runs the store until then), so the body streams to
//! the client in full.

use super::serve::{RequestHost, EPOCH_TICK};
use crate::WasmtimeResultExt;
use anyhow::{Context as _, Result};
use http_body_util::BodyExt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use wasmtime::component::{Component, GuestTaskId, Linker};
use wasmtime::{Engine, Store, StoreContextMut};
use wasmtime_wasi_http::handler::{
    ExpirationError, HandlerState, Instance, Proxy, ProxyHandler, ShouldAccept, TrapOrPanicError,
    WorkerExpiration, WorkerState, WorkerStatus,
};
use wasmtime_wasi_http::p3::bindings::ServicePre;
use wasmtime_wasi_http::{WasiBody, WasiHttpView};

/// The prefix of the export that makes a component a WASI 0.3 service.
const HANDLER_EXPORT: &str = "wasi:http/handler@0.3.";

/// True when `component` exports `wasi:http/handler` of WASI 0.3.
pub fn exports_handler(engine: &Engine, component: &Component) -> bool {
    component
        .component_type()
        .exports(engine)
        .any(|(name, _)| name.starts_with(HANDLER_EXPORT))
}

/// Add WASI 0.3 and `wasi:http@0.3` (`client`, `types`) to `linker`, which
/// already has WASI 0.2 (Python's stdio goes through it).
pub fn add_to_linker(linker: &mut Linker<RequestHost>) -> Result<()> {
    crate::run_p3::add_to_linker(linker)?;
    wasmtime_wasi_http::p3::add_to_linker(linker)
        .anyhow()
        .context("adding WASI HTTP 0.3 to the linker")
}

/// The pre-instantiated service and what each of its requests needs.
pub struct Service {
    pre: ServicePre<RequestHost>,
    /// Makes each request's store (WASI, HTTP, outgoing requests).
    new_host: Box<dyn Fn() -> RequestHost + Send + Sync>,
    /// `--timeout`: the most a request may take, body included.
    timeout: Option<Duration>,
}

impl Service {
    /// A service of `pre` (linked by [`add_to_linker`]): `new_host` makes
    /// each request's host state.
    pub fn new(
        pre: wasmtime::component::InstancePre<RequestHost>,
        new_host: impl Fn() -> RequestHost + Send + Sync + 'static,
        timeout: Option<Duration>,
    ) -> Result<ProxyHandler<Service>> {
        let pre = ServicePre::new(pre)
            .anyhow()
            .context("the component does not export `wasi:http/handler@0.3.0`")?;
        Ok(ProxyHandler::new(Service {
            pre,
            new_host: Box::new(new_host),
            timeout,
        }))
    }
}

/// One request through `handler`; `what` (method and URI) names it in the
/// server's messages. A guest failure is an `Err` (the caller answers 500):
/// a trap, the handler's `error-code`, or the timeout.
pub async fn handle(
    handler: &ProxyHandler<Service>,
    what: String,
    request: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<WasiBody>> {
    let request = request.map(|body| body.map_err(wasmtime_wasi_http::Error::from).boxed_unsync());
    let timeout = handler.state().timeout;
    let error = match handler.handle(what, request).await {
        Ok(response) => return Ok(response),
        Err(error) => error,
    };
    let expired = error.downcast_ref::<ExpirationError>().is_some();
    // The worker trapped: [`OneRequest::drop`] reports the guest's error.
    let trapped = error.downcast_ref::<TrapOrPanicError>().is_some();
    let error: anyhow::Error = error.into();
    match (timeout, expired, trapped) {
        (Some(timeout), true, _) => Err(error.context(super::serve::timed_out(timeout))),
        (_, _, true) => Err(error.context("the guest trapped (its error is above)")),
        _ => Err(error.context("calling `wasi:http/handler.handle`")),
    }
}

impl HandlerState for Service {
    type StoreData = RequestHost;
    type WorkerExpiration = Deadline;
    type WorkerState = OneRequest;

    async fn instantiate(&self) -> wasmtime::Result<Instance<RequestHost, Deadline, OneRequest>> {
        let mut store = Store::new(self.pre.engine(), (self.new_host)());
        if let Some(timeout) = self.timeout {
            let ticks = timeout.as_nanos() / EPOCH_TICK.as_nanos() + 1;
            store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX));
            store.epoch_deadline_trap();
        }
        let proxy = self.pre.instantiate_async(&mut store).await?;
        Ok(Instance {
            store,
            proxy: Proxy::P3(proxy),
            view: <RequestHost as WasiHttpView>::http,
            expiration: Deadline::new(self.timeout),
            state: OneRequest {
                timeout: self.timeout,
                what: Mutex::new(None),
            },
        })
    }
}

/// A worker's state: it takes one request (a fresh instance per request,
/// as for 0.2 proxies) and remembers its name for the messages.
pub struct OneRequest {
    timeout: Option<Duration>,
    what: Mutex<Option<String>>,
}

impl WorkerState for OneRequest {
    type StoreData = RequestHost;
    type RequestData = String;

    fn should_accept_request(&self, _concurrent: usize, total: usize) -> ShouldAccept {
        if total == 0 {
            ShouldAccept::Yes
        } else {
            ShouldAccept::Never
        }
    }

    fn on_request_start(
        &self,
        _store: StoreContextMut<'_, RequestHost>,
        what: String,
        _task: GuestTaskId,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + Sync>> {
        if let Ok(mut slot) = self.what.lock() {
            *slot = Some(what);
        }
        match self.timeout {
            Some(timeout) => Box::pin(tokio::time::sleep(timeout)),
            None => Box::pin(std::future::pending()),
        }
    }

    fn drop(&self, _store: Store<RequestHost>, result: wasmtime::Result<()>) {
        // A trap after the response was sent (while the body streamed)
        // reaches no caller: it is reported here. One before the response
        // is reported here too, with the guest's own error (the caller only
        // learns that the worker trapped).
        if let Err(error) = result {
            let interrupted = matches!(error.downcast_ref::<wasmtime::Trap>(), Some(wasmtime::Trap::Interrupt));
            let mut error: anyhow::Error = error.into();
            if let (Some(timeout), true) = (self.timeout, interrupted || error.to_string() == "guest timed out") {
                error = error.context(super::serve::timed_out(timeout));
            }
            let what = self.what.lock().ok().and_then(|slot| slot.clone()).unwrap_or_default();
            let mut message = format!("componentize-py serve: {what}: {error}");
            for cause in error.chain().skip(1) {
                message.push_str(&format!("\n  caused by: {cause}"));
            }
            eprintln!("{message}");
        }
    }
}

/// The second bound of `--timeout` (polled outside the store's event loop,
/// which a guest computing or blocked in a host call does not run): the
/// instance is dropped once the request has taken `timeout` and a grace
/// period, body and post-return work included.
pub struct Deadline {
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Deadline {
    fn new(timeout: Option<Duration>) -> Self {
        let sleep = timeout.map(|timeout| {
            let deadline = Instant::now() + timeout + EPOCH_TICK * 10;
            Box::pin(tokio::time::sleep_until(deadline.into()))
        });
        Deadline { sleep }
    }
}

impl WorkerExpiration for Deadline {
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>, status: WorkerStatus, _start: Instant) -> Poll<()> {
        match (status, &mut self.get_mut().sleep) {
            // An idle worker of one request ends by itself.
            (WorkerStatus::Idle, _) | (_, None) => Poll::Pending,
            (_, Some(sleep)) => sleep.as_mut().poll(cx),
        }
    }
}
