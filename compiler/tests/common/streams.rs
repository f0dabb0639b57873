//! Host ends of component-model streams and futures for the async tests
//! (async.rs, upstream_tests.rs): writers that give everything at once,
//! readers that collect, with or without a delay before each step.

use std::future::Future;
use std::ops::DerefMut;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use wasmtime::component::{
    Destination, FutureConsumer, Lift, Source, StreamConsumer, StreamProducer, StreamResult, VecBuffer,
};
use wasmtime::StoreContextMut;

/// How long the delaying host waits before each read or write.
pub const DELAY: Duration = Duration::from_millis(20);

pub async fn pause(delay: bool) {
    if delay {
        tokio::time::sleep(DELAY).await;
    }
}

/// A `pause` that a poll function can poll again after it finished (it
/// then stays ready until `reset`).
pub struct Pause(Option<Pin<Box<dyn Future<Output = ()> + Send>>>);

impl Pause {
    pub fn new(delay: bool) -> Self {
        Pause(Some(Box::pin(pause(delay))))
    }

    pub fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(sleep) = &mut self.0 {
            std::task::ready!(sleep.as_mut().poll(cx));
            self.0 = None;
        }
        Poll::Ready(())
    }
}

/// Wait (driving the store) until `done` is set; fail after 30 s.
pub async fn until(done: &AtomicBool) -> wasmtime::Result<()> {
    for _ in 0..6000 {
        if done.load(Ordering::SeqCst) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    wasmtime::bail!("the guest did not finish the stream or future in 30 s")
}

/// A host writer giving all of `items` in one write, then closing, after
/// an optional delay.
pub struct AllAtOnce<T> {
    items: Vec<T>,
    sleep: Pause,
}

impl<T> AllAtOnce<T> {
    pub fn new(items: Vec<T>, delay: bool) -> Self {
        AllAtOnce { items, sleep: Pause::new(delay) }
    }
}

impl<D, T: Lift + Unpin + Send + Sync + 'static> StreamProducer<D> for AllAtOnce<T> {
    type Item = T;
    type Buffer = VecBuffer<T>;

    fn poll_produce(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        _: StoreContextMut<D>,
        mut destination: Destination<Self::Item, Self::Buffer>,
        _: bool,
    ) -> Poll<wasmtime::Result<StreamResult>> {
        let this = self.as_mut().get_mut();
        std::task::ready!(this.sleep.poll(cx));
        destination.set_buffer(std::mem::take(&mut this.items).into());
        Poll::Ready(Ok(StreamResult::Dropped))
    }
}

/// A host reader taking at most `max` items per write of the guest (each
/// after an optional delay) into `items`; sets `done` when dropped (the
/// guest closed its end).
pub struct Collect<T> {
    items: Arc<Mutex<Vec<T>>>,
    max: usize,
    delay: bool,
    sleep: Pause,
    done: Arc<AtomicBool>,
}

impl<T> Collect<T> {
    pub fn new(max: usize, delay: bool) -> (Self, Arc<Mutex<Vec<T>>>, Arc<AtomicBool>) {
        let items = Arc::new(Mutex::new(Vec::new()));
        let done = Arc::new(AtomicBool::new(false));
        let this = Collect {
            items: items.clone(),
            max,
            delay,
            sleep: Pause::new(delay),
            done: done.clone(),
        };
        (this, items, done)
    }
}

impl<T> Drop for Collect<T> {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
    }
}

impl<D, T: Lift + Send + 'static> StreamConsumer<D> for Collect<T> {
    type Item = T;

    fn poll_consume(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut store: StoreContextMut<D>,
        mut source: Source<Self::Item>,
        _: bool,
    ) -> Poll<wasmtime::Result<StreamResult>> {
        let this = self.as_mut().get_mut();
        std::task::ready!(this.sleep.poll(cx));
        this.sleep = Pause::new(this.delay);
        if this.max == 1 {
            let mut one = None;
            source.read(&mut store, &mut one)?;
            this.items.lock().unwrap().extend(one);
        } else {
            // A Vec takes as many items as it has spare capacity.
            let count = source.remaining(&mut store);
            let mut items = this.items.lock().unwrap();
            items.reserve(count);
            source.read(&mut store, items.deref_mut())?;
        }
        Poll::Ready(Ok(StreamResult::Completed))
    }
}

/// A host reader of a future, keeping its value; sets `done` when dropped.
pub struct Keep<T> {
    value: Arc<Mutex<Option<T>>>,
    sleep: Pause,
    done: Arc<AtomicBool>,
}

impl<T> Keep<T> {
    pub fn new(delay: bool) -> (Self, Arc<Mutex<Option<T>>>, Arc<AtomicBool>) {
        let value = Arc::new(Mutex::new(None));
        let done = Arc::new(AtomicBool::new(false));
        let this = Keep { value: value.clone(), sleep: Pause::new(delay), done: done.clone() };
        (this, value, done)
    }
}

impl<T> Drop for Keep<T> {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
    }
}

impl<D, T: Lift + Send + 'static> FutureConsumer<D> for Keep<T> {
    type Item = T;

    fn poll_consume(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut store: StoreContextMut<D>,
        mut source: Source<Self::Item>,
        _: bool,
    ) -> Poll<wasmtime::Result<()>> {
        let this = self.as_mut().get_mut();
        std::task::ready!(this.sleep.poll(cx));
        source.read(&mut store, this.value.lock().unwrap().deref_mut())?;
        Poll::Ready(Ok(()))
    }
}

