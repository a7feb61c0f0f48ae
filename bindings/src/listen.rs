//! Listeners: the foreign traits the app implements ([`SyncListener`], [`PeerListener`],
//! [`RoleListener`], [`InviteListener`]), the [`TaskHandle`] a
//! subscription returns, and the one delivery loop behind every `subscribe_*`: current value
//! first, then changes, at most one call per [`LISTENER_MIN_INTERVAL`], never the same value
//! twice in a row. A listener that throws is logged and keeps its subscription; it never
//! reaches the core.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::watch;

use crate::error::MapeoError;
use crate::invites::ReceivedInvite;
use crate::records::{PeerInfo, PeerSyncState, Role};
use crate::runtime::{Kind, Task, spawn};

/// Shortest time between two calls to one listener: UI updates need no more, and a busy sync
/// must not flood the app's main thread.
pub const LISTENER_MIN_INTERVAL: Duration = Duration::from_millis(100);

/// Sync progress of one project, as the app implements it.
#[uniffi::export(with_foreign)]
pub trait SyncListener: Send + Sync {
    /// The exchange of `project_id` with every peer that has it, one entry per peer. Called
    /// with the current state first, then after changes. Return quickly (post to the UI
    /// thread); throwing is logged and ignored.
    fn on_sync_state(
        &self,
        project_id: String,
        peers: Vec<PeerSyncState>,
    ) -> Result<(), MapeoError>;
}

/// The peer list, as the app implements it.
#[uniffi::export(with_foreign)]
pub trait PeerListener: Send + Sync {
    /// Every device seen on the network, connected or not. Called with the current list
    /// first, then after changes. Return quickly; throwing is logged and ignored.
    fn on_peers(&self, peers: Vec<PeerInfo>) -> Result<(), MapeoError>;
}

/// This device's own role in a project, as the app implements it (it learns here that it was
/// made coordinator, or blocked).
#[uniffi::export(with_foreign)]
pub trait RoleListener: Send + Sync {
    /// The role this device has in the project now. Called with the current role first, then
    /// when it changes. Return quickly; throwing is logged and ignored.
    fn on_role(&self, role: Role) -> Result<(), MapeoError>;
}

/// The invites this device received, as the app implements it (to show a new invite).
#[uniffi::export(with_foreign)]
pub trait InviteListener: Send + Sync {
    /// Every received invite with its state (pending ones are those to answer). Called with
    /// the current list first, then after changes. Return quickly; throwing is logged and
    /// ignored.
    fn on_invites(&self, invites: Vec<ReceivedInvite>) -> Result<(), MapeoError>;
}

/// A running subscription. It stops when [`TaskHandle::cancel`] is called or when the handle
/// is dropped (in Kotlin `close()`, or when the garbage collector frees it).
#[derive(uniffi::Object)]
pub struct TaskHandle {
    task: Mutex<Option<Task<()>>>,
    cancelled: Arc<AtomicBool>,
}

#[uniffi::export]
impl TaskHandle {
    /// Stops the subscription: its listener is not called again, except that a call already
    /// under way finishes. Safe to call from inside the listener; calling it again does
    /// nothing.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        let task = self
            .task
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            task.abort();
        }
    }
}

/// What a subscription reads from, if it is still open. Subscriptions hold their source
/// weakly: a device or project the app has closed ends its subscriptions (its change signal
/// closes) instead of being kept alive by them.
pub(crate) fn upgrade<T>(source: &Weak<T>) -> Result<Arc<T>, MapeoError> {
    source
        .upgrade()
        .ok_or_else(|| MapeoError::internal("the subscription's source was closed"))
}

/// Delivers `read()` to `deliver` now and after each change signalled by `changes`, throttled
/// and without repeats, until the returned handle is cancelled or dropped or `changes` closes
/// (its source was dropped). `read` errors are logged and skipped (the next change tries
/// again).
pub(crate) fn subscribe<S, V>(
    mut changes: watch::Receiver<S>,
    read: impl Fn() -> Result<V, MapeoError> + Send + 'static,
    deliver: impl Fn(V) -> Result<(), MapeoError> + Send + 'static,
) -> Result<Arc<TaskHandle>, MapeoError>
where
    S: Send + Sync + 'static,
    V: PartialEq + Clone + Send + 'static,
{
    let cancelled = Arc::new(AtomicBool::new(false));
    let stop = cancelled.clone();
    let task = spawn(Kind::Listener, async move {
        let mut last: Option<V> = None;
        loop {
            changes.borrow_and_update();
            match read() {
                Ok(_) if stop.load(Ordering::SeqCst) => return,
                Ok(value) if last.as_ref() != Some(&value) => {
                    // The foreign call blocks this worker: tell the runtime so other tasks
                    // move to another thread meanwhile.
                    let delivered = tokio::task::block_in_place(|| deliver(value.clone()));
                    if let Err(e) = delivered {
                        tracing::warn!("a listener failed and was skipped: {e}");
                    }
                    last = Some(value);
                }
                Ok(_) => {}
                Err(e) => tracing::debug!("a listener's value could not be read: {e}"),
            }
            tokio::time::sleep(LISTENER_MIN_INTERVAL).await;
            if changes.changed().await.is_err() {
                return;
            }
        }
    })?;
    Ok(Arc::new(TaskHandle {
        task: Mutex::new(Some(task)),
        cancelled,
    }))
}
