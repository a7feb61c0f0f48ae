//! The async runtime the core runs on inside the app's process, and how foreign async calls
//! reach it. Owns one multi-thread tokio runtime for the whole library (every device opened in
//! the process shares it) and the counters of the work running on it. Holds no Mapeo logic.
//!
//! Why not UniFFI's `tokio` feature: it polls every exported future inside `async-compat`'s
//! runtime, a current-thread runtime on one thread of its own, so all sessions, listeners and
//! the core's spawned tasks would share one thread. Here each async export spawns its core
//! call on this runtime and awaits the [`tokio::task::JoinHandle`], which any executor can poll
//! (Kotlin coroutines, Swift tasks, Python's asyncio). When the foreign side cancels, UniFFI
//! drops that future and [`run`] aborts the task: nothing keeps running for a caller that is
//! gone.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

use crate::error::MapeoError;

/// Name of the runtime's worker threads (seen in thread dumps and `top -H`).
const THREAD_NAME: &str = "mapeo-rt";

static RUNTIME: OnceLock<Option<Runtime>> = OnceLock::new();

/// Async calls from the app still running on the runtime.
static CALLS: AtomicU64 = AtomicU64::new(0);
/// Listener tasks still running.
static LISTENERS: AtomicU64 = AtomicU64::new(0);

/// The runtime, started on first use.
pub(crate) fn runtime() -> Result<&'static Runtime, MapeoError> {
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_name(THREAD_NAME)
                .build()
                .map_err(|e| tracing::error!("the async runtime did not start: {e}"))
                .ok()
        })
        .as_ref()
        .ok_or_else(|| MapeoError::internal("the async runtime did not start"))
}

/// Which counter a task is counted in.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    /// An async call from the app.
    Call,
    /// A listener subscription.
    Listener,
}

impl Kind {
    fn counter(self) -> &'static AtomicU64 {
        match self {
            Kind::Call => &CALLS,
            Kind::Listener => &LISTENERS,
        }
    }
}

/// Counts a task from its creation until its future is dropped (finished or aborted).
struct Counted(Kind);

impl Counted {
    fn new(kind: Kind) -> Self {
        kind.counter().fetch_add(1, Ordering::SeqCst);
        Counted(kind)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.counter().fetch_sub(1, Ordering::SeqCst);
    }
}

/// A task on the runtime that is aborted when this handle is dropped.
pub(crate) struct Task<T>(JoinHandle<T>);

impl<T> Task<T> {
    /// Stops the task at its next await point.
    pub(crate) fn abort(&self) {
        self.0.abort();
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> Future for Task<T> {
    type Output = Result<T, MapeoError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(|joined| {
            joined.map_err(|e| {
                if e.is_panic() {
                    tracing::error!("a core task panicked");
                    MapeoError::internal("the operation failed unexpectedly")
                } else {
                    MapeoError::internal("the operation was cancelled")
                }
            })
        })
    }
}

/// Spawns `fut` on the runtime, counted as `kind`.
pub(crate) fn spawn<F>(kind: Kind, fut: F) -> Result<Task<F::Output>, MapeoError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let counted = Counted::new(kind);
    let handle = runtime()?.spawn(async move {
        let _counted = counted;
        fut.await
    });
    Ok(Task(handle))
}

/// Runs a core call on the runtime for a foreign `async` caller; aborted if the caller
/// cancels.
pub(crate) async fn run<T, E>(
    fut: impl Future<Output = Result<T, E>> + Send + 'static,
) -> Result<T, MapeoError>
where
    T: Send + 'static,
    E: Into<MapeoError> + Send + 'static,
{
    spawn(Kind::Call, fut)?.await?.map_err(Into::into)
}

/// [`run`] for core calls that cannot fail.
pub(crate) async fn run_infallible<T: Send + 'static>(
    fut: impl Future<Output = T> + Send + 'static,
) -> Result<T, MapeoError> {
    spawn(Kind::Call, fut)?.await
}

/// Work on the runtime that the app started and that has not ended yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct RunningTasks {
    /// Async calls still running (a cancelled call ends at its next await point).
    pub calls: u64,
    /// Listener subscriptions still delivering (a cancelled or dropped handle ends its own).
    pub listeners: u64,
}

/// How much work the app has started that is still running: for leak checks in tests and
/// diagnostics screens.
#[uniffi::export]
pub fn running_tasks() -> RunningTasks {
    RunningTasks {
        calls: CALLS.load(Ordering::SeqCst),
        listeners: LISTENERS.load(Ordering::SeqCst),
    }
}
