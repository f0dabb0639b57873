//! Limits of a build's initialisation run: a time limit for importing the
//! app, cancellation (a Bazel worker's cancel request), and what to say when
//! the app exits the interpreter while it is imported.
//!
//! The pre-initialisation engines have epoch interruption on, and a thread
//! per engine advances its epoch every [`TICK`]; at each tick a running
//! store's callback checks its cancel flag and its deadline, so a build
//! stops within about a tick of either, wherever the guest is (CPython's
//! start-up, the app's import, a `while True: pass`).

use anyhow::{Context, Result};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use wasmtime::{Engine, Store, UpdateDeadline};

/// How long importing the app may take by default (`--import-timeout`):
/// far beyond any real app's import (the biggest measured take seconds),
/// short enough that a build stuck in an endless loop ends.
pub const DEFAULT_IMPORT_TIMEOUT: Duration = Duration::from_secs(300);

/// How often the pre-initialisation engines' epochs advance: the latency of
/// a cancel and the granularity of the time limit.
pub const TICK: Duration = Duration::from_millis(50);

/// When the initialisation run is stopped.
#[derive(Clone, Debug)]
pub struct Limits {
    /// The time limit of the initialisation run (CPython's start-up, the
    /// app's import, bundling); `None` for none.
    pub import_timeout: Option<Duration>,
    /// Set from another thread to stop the build (a worker's cancel).
    pub cancel: Option<Arc<AtomicBool>>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { import_timeout: Some(DEFAULT_IMPORT_TIMEOUT), cancel: None }
    }
}

/// Why the initialisation run stopped early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The time limit passed.
    TimedOut,
    /// The cancel flag was set.
    Cancelled,
    /// The guest called WASI `proc_exit` (`os._exit(n)`) with this status.
    Exited(i32),
}

/// A build stopped by a limit, a cancel or an exit of the app; its
/// `Display` is the sentence for the user.
#[derive(Debug)]
pub struct Stopped {
    /// Why.
    pub reason: Reason,
    /// The sentence.
    message: String,
    /// What the app printed to stderr before (may be empty).
    pub output: String,
}

impl fmt::Display for Stopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if !self.output.is_empty() {
            write!(f, "\nthe app printed before:\n{}", self.output)?;
        }
        Ok(())
    }
}

impl std::error::Error for Stopped {}

/// The guest's `proc_exit(status)`, as seen from the call that ran it.
#[derive(Debug)]
pub(crate) struct Exited(pub i32);

impl fmt::Display for Exited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the guest exited with status {}", self.0)
    }
}

impl std::error::Error for Exited {}

/// Advance `engine`'s epoch every [`TICK`] for the rest of the process.
pub(crate) fn tick(engine: &Engine) -> Result<()> {
    let engine = engine.clone();
    std::thread::Builder::new()
        .name("componentize-py-epoch".into())
        .spawn(move || loop {
            std::thread::sleep(TICK);
            engine.increment_epoch();
        })
        .context("starting the epoch thread of pre-initialisation")?;
    Ok(())
}

/// The limits armed for one store: remembers which one fired.
pub(crate) struct Armed {
    fired: Arc<Mutex<Option<Reason>>>,
}

impl Limits {
    /// Check the limits of `store` (whose engine comes from
    /// `preinit::engine_for`) at every epoch tick from now on.
    pub(crate) fn arm<T: 'static>(&self, store: &mut Store<T>) -> Armed {
        let fired = Arc::new(Mutex::new(None));
        let deadline = self.import_timeout.map(|limit| Instant::now() + limit);
        let cancel = self.cancel.clone();
        let flag = fired.clone();
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            let reason = if cancel.as_ref().is_some_and(|c| c.load(Ordering::SeqCst)) {
                Some(Reason::Cancelled)
            } else if deadline.is_some_and(|d| Instant::now() >= d) {
                Some(Reason::TimedOut)
            } else {
                None
            };
            match reason {
                Some(reason) => {
                    *flag.lock().unwrap_or_else(PoisonError::into_inner) = Some(reason);
                    Ok(UpdateDeadline::Interrupt)
                }
                None => Ok(UpdateDeadline::Continue(1)),
            }
        });
        Armed { fired }
    }
}

impl Armed {
    /// Why the run that failed with `error` stopped, if a limit, a cancel
    /// or an exit of the guest stopped it.
    pub(crate) fn reason(&self, error: &anyhow::Error) -> Option<Reason> {
        if let Some(reason) = *self.fired.lock().unwrap_or_else(PoisonError::into_inner) {
            return Some(reason);
        }
        error.downcast_ref::<Exited>().map(|exit| Reason::Exited(exit.0))
    }
}

/// `modules` (innermost first, comma-separated) as `` `a` (imported by `b`,
/// imported by `c`) ``, or the app's name when the guest could not tell.
fn describe_modules(app: &str, modules: &str) -> String {
    let names: Vec<&str> = modules.split(',').map(str::trim).filter(|n| !n.is_empty()).collect();
    match names.split_first() {
        None => format!("while importing the app module `{app}`"),
        Some((inner, outer)) => {
            let mut text = format!("while importing module `{inner}`");
            for name in outer {
                text.push_str(&format!(", imported by `{name}`"));
            }
            text
        }
    }
}

impl Reason {
    /// The error for the user: what happened, in which module (`modules`,
    /// from the guest), and what to do; `error` is the trap.
    pub(crate) fn error(
        self,
        limits: &Limits,
        app: &str,
        modules: &str,
        error: anyhow::Error,
    ) -> anyhow::Error {
        let place = describe_modules(app, modules);
        let message = match self {
            Reason::TimedOut => {
                let limit = limits.import_timeout.unwrap_or_default();
                format!(
                    "the app did not finish importing within the import time limit of {} \
                     (--import-timeout), {place}: does its import run forever? Raise the \
                     limit with --import-timeout if it is just slow",
                    format_duration(limit)
                )
            }
            Reason::Cancelled => format!("the build was cancelled {place}"),
            Reason::Exited(status) => format!(
                "the app exited the interpreter with status {status} (os._exit) {place}: \
                 a component is built by importing the app, which must return; move the \
                 exit into a function that runs later"
            ),
        };
        drop(error);
        anyhow::Error::new(Stopped { reason: self, message, output: String::new() })
    }
}

/// `300 s`, `1.5 s`, `250 ms`.
pub fn format_duration(duration: Duration) -> String {
    if duration < Duration::from_secs(1) {
        format!("{} ms", duration.as_millis())
    } else {
        let secs = duration.as_secs_f64();
        if secs.fract() == 0.0 {
            format!("{secs:.0} s")
        } else {
            format!("{secs} s")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_are_named_innermost_first() {
        assert_eq!(
            describe_modules("app", "slow, pkg, app"),
            "while importing module `slow`, imported by `pkg`, imported by `app`"
        );
        assert_eq!(describe_modules("app", ""), "while importing the app module `app`");
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(format_duration(Duration::from_secs(300)), "300 s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(format_duration(Duration::from_millis(250)), "250 ms");
    }
}
