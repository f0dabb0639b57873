//! `componentize-py --persistent_worker`: a Bazel persistent worker speaking
//! the proto variant of the worker protocol.
//!
//! Bazel writes length-delimited (varint length prefix) `WorkRequest`s to
//! stdin and reads `WorkResponse`s from stdout; nothing else may go to
//! stdout. Each request's arguments are a command line (with `@FILE`s) run by
//! `crate::run`, whose text goes into the response's `output`.
//!
//! - `request_id` 0 (singleplex): served in order, one at a time.
//! - other ids (multiplex): one thread per request; responses are written
//!   whole under a lock, so they never interleave. At most
//!   `--worker-max-builds N` builds run at once (default: the number of
//!   cores; also `$COMPONENTIZE_PY_WORKER_MAX_BUILDS`), the others wait for
//!   a slot, so that a burst of requests keeps the worker's memory bounded.
//! - `cancel`: the cancelled build is abandoned at its next step, or within
//!   an epoch tick inside pre-initialisation (`componentize_py::limits`),
//!   before it writes anything, and answered with `was_cancelled`; a
//!   request still waiting for a slot is answered at once. A cancel for an id
//!   that is not in flight gets no response: the spec asks for exactly one
//!   response per non-cancel request, and a build that completed anyway is
//!   answered normally.
//! - a request that does not decode gets an error response (id 0); a framing
//!   error ends the worker, with status 0 at end of input.

use crate::Console;
use anyhow::{bail, Context, Result};
use componentize_py::worker_protocol::{read_frame, WorkRequest, WorkResponse};
use prost::Message;
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{self, Write};
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// The flag with which Bazel starts a worker.
pub const FLAG: &str = "--persistent_worker";

/// Startup flag: how many builds run at once.
pub const MAX_BUILDS_FLAG: &str = "--worker-max-builds";

/// Environment variable for [`MAX_BUILDS_FLAG`] (the flag wins).
pub const MAX_BUILDS_ENV: &str = "COMPONENTIZE_PY_WORKER_MAX_BUILDS";

/// Take `--worker-max-builds N` (or `=N`) out of the startup arguments: the
/// most builds that run at once, else `$COMPONENTIZE_PY_WORKER_MAX_BUILDS`,
/// else the number of cores.
fn max_builds(startup: &mut Vec<OsString>) -> Result<usize> {
    let mut value = None;
    let mut rest = Vec::with_capacity(startup.len());
    let mut args = std::mem::take(startup).into_iter();
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some(flag) if flag == MAX_BUILDS_FLAG => {
                let next = args.next().with_context(|| format!("{MAX_BUILDS_FLAG} needs a number"))?;
                value = Some(next.to_string_lossy().into_owned());
            }
            Some(flag) if flag.starts_with(&format!("{MAX_BUILDS_FLAG}=")) => {
                value = Some(flag[MAX_BUILDS_FLAG.len() + 1..].to_string());
            }
            _ => rest.push(arg),
        }
    }
    *startup = rest;
    let (value, source) = match value {
        Some(value) => (value, MAX_BUILDS_FLAG.to_string()),
        None => match std::env::var(MAX_BUILDS_ENV) {
            Ok(value) if !value.is_empty() => (value, format!("${MAX_BUILDS_ENV}")),
            _ => return Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
        },
    };
    match value.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => bail!("{source} must be a whole number above 0, not `{value}`"),
    }
}

/// A counting semaphore: the build slots.
struct Slots {
    free: Mutex<usize>,
    changed: Condvar,
}

impl Slots {
    /// Wait for a slot; `None` (without one) when `cancelled` is set first.
    fn acquire(&self, cancelled: &AtomicBool) -> Option<SlotGuard<'_>> {
        let mut free = lock(&self.free);
        loop {
            if cancelled.load(Ordering::SeqCst) {
                return None;
            }
            if *free > 0 {
                *free -= 1;
                return Some(SlotGuard(self));
            }
            // A cancel does not notify: look again now and then.
            free = self
                .changed
                .wait_timeout(free, Duration::from_millis(50))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// A held slot, given back on drop (also when the build panics).
struct SlotGuard<'a>(&'a Slots);

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        *lock(&self.0.free) += 1;
        self.0.changed.notify_one();
    }
}

/// Serve requests from stdin until it ends; `program` and `startup` (the
/// process's other arguments) are put before every request's arguments.
pub fn serve(program: OsString, mut startup: Vec<OsString>) -> ExitCode {
    let max_builds = match max_builds(&mut startup) {
        Ok(n) => n,
        Err(error) => {
            eprintln!("componentize-py worker: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    let worker = Arc::new(Worker {
        prefix: std::iter::once(program).chain(startup).collect(),
        stdout: Mutex::new(io::stdout()),
        in_flight: Mutex::new(HashMap::new()),
        slots: Slots { free: Mutex::new(max_builds), changed: Condvar::new() },
    });
    let mut stdin = io::stdin().lock();
    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    let status = loop {
        let frame = match read_frame(&mut stdin) {
            Ok(Some(frame)) => frame,
            Ok(None) => break ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("componentize-py worker: {error:#}; stopping");
                break ExitCode::FAILURE;
            }
        };
        let request = match WorkRequest::decode(frame.as_slice()) {
            Ok(request) => request,
            Err(error) => {
                worker.respond(WorkResponse {
                    exit_code: 1,
                    output: format!("error: malformed WorkRequest: {error}\n"),
                    ..WorkResponse::default()
                });
                continue;
            }
        };
        if request.verbosity > 0 {
            eprintln!("componentize-py worker: {request:?}");
        }
        if request.cancel {
            worker.cancel(request.request_id);
        } else if request.request_id == 0 {
            let response = worker.handle(request, Arc::default());
            worker.respond(response);
        } else {
            threads.retain(|thread| !thread.is_finished());
            threads.push(worker.spawn(request));
        }
    };
    // Let builds in flight finish (and clean up) before exiting.
    for thread in threads {
        let _ = thread.join();
    }
    componentize_py::bytecode::forget_folders();
    status
}

/// State shared by the request threads.
struct Worker {
    /// The program name and startup arguments.
    prefix: Vec<OsString>,
    /// Responses are written whole under this lock.
    stdout: Mutex<io::Stdout>,
    /// Cancel flags of the multiplex requests in flight, by id.
    in_flight: Mutex<HashMap<i32, Arc<AtomicBool>>>,
    /// At most this many builds run at once.
    slots: Slots,
}

impl Worker {
    /// Serve a multiplex request on its own thread.
    fn spawn(self: &Arc<Self>, request: WorkRequest) -> JoinHandle<()> {
        let id = request.request_id;
        let cancelled = Arc::new(AtomicBool::new(false));
        lock(&self.in_flight).insert(id, cancelled.clone());
        let worker = self.clone();
        std::thread::spawn(move || {
            let response = worker.handle(request, cancelled);
            lock(&worker.in_flight).remove(&id);
            worker.respond(response);
        })
    }

    /// Flag the request `id` as cancelled, if it is in flight.
    fn cancel(&self, id: i32) {
        if let Some(cancelled) = lock(&self.in_flight).get(&id) {
            cancelled.store(true, Ordering::SeqCst);
        }
    }

    /// Run one request and build its response.
    fn handle(&self, request: WorkRequest, cancelled: Arc<AtomicBool>) -> WorkResponse {
        let request_id = request.request_id;
        let was_cancelled = WorkResponse {
            request_id,
            was_cancelled: true,
            ..WorkResponse::default()
        };
        let Some(_slot) = self.slots.acquire(&cancelled) else {
            return was_cancelled;
        };
        let mut args = self.prefix.clone();
        args.extend(request.arguments.into_iter().map(OsString::from));
        let base = (!request.sandbox_dir.is_empty()).then(|| PathBuf::from(request.sandbox_dir));
        let mut buffer = Buffer {
            text: Vec::new(),
            cancelled,
        };
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            crate::run(args, base.as_deref(), &mut buffer)
        }));
        let exit_code = match outcome {
            // Stopped by the cancel inside pre-initialisation.
            Ok(code) if code != 0 && buffer.cancelled.load(Ordering::SeqCst) => return was_cancelled,
            Ok(code) => code,
            Err(payload) if payload.is::<Cancelled>() => return was_cancelled,
            Err(payload) => {
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                let _ = writeln!(buffer.text, "error: internal error (panic): {message}");
                1
            }
        };
        WorkResponse {
            exit_code,
            output: String::from_utf8_lossy(&buffer.text).into_owned(),
            request_id,
            was_cancelled: false,
        }
    }

    /// Write one response to stdout, whole.
    fn respond(&self, response: WorkResponse) {
        let bytes = response.encode_length_delimited_to_vec();
        let mut stdout = lock(&self.stdout);
        if let Err(error) = stdout.write_all(&bytes).and_then(|()| stdout.flush()) {
            eprintln!("componentize-py worker: writing a response: {error}");
        }
    }
}

/// Lock `mutex`, ignoring poisoning: request threads catch their panics.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The panic payload with which a cancelled build is abandoned.
struct Cancelled;

/// A request's console: stdout and stderr both go into `text`.
struct Buffer {
    text: Vec<u8>,
    cancelled: Arc<AtomicBool>,
}

impl Console for Buffer {
    fn stdout(&mut self) -> &mut dyn Write {
        &mut self.text
    }
    fn stderr(&mut self) -> &mut dyn Write {
        &mut self.text
    }
    fn owns_stdio(&self) -> bool {
        false
    }
    fn cancel_flag(&self) -> Option<Arc<AtomicBool>> {
        Some(self.cancelled.clone())
    }
    /// Abandon a cancelled build: the library's only hook is its progress
    /// callback, so unwind out of it (`resume_unwind` runs no panic hook);
    /// `handle` catches the unwind. The build has written nothing yet: it
    /// writes its output last, after its last step.
    fn checkpoint(&mut self) {
        if self.cancelled.load(Ordering::SeqCst) {
            panic::resume_unwind(Box::new(Cancelled));
        }
    }
}
