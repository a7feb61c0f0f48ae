//! An in-memory [`Transport`] pair for tests and for platform byte streams that already
//! deliver whole messages. Can be set to cut the connection after a number of messages, to
//! test interrupted syncs. Owns no protocol logic.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::mpsc;

use super::{SyncError, Transport, TransportReader, TransportWriter};

/// Messages buffered in each direction before a writer waits.
pub const MEMORY_CHANNEL_DEPTH: usize = 8;

/// One end of an in-memory connection.
pub struct MemoryTransport {
    tx: mpsc::Sender<Vec<u8>>,
    rx: mpsc::Receiver<Vec<u8>>,
    budget: Option<Arc<AtomicUsize>>,
}

/// Two connected ends.
pub fn pair() -> (MemoryTransport, MemoryTransport) {
    make_pair(None)
}

/// Two connected ends whose connection breaks once `messages` messages have been sent in
/// total (both directions together).
pub fn pair_cut_after(messages: usize) -> (MemoryTransport, MemoryTransport) {
    make_pair(Some(Arc::new(AtomicUsize::new(messages))))
}

fn make_pair(budget: Option<Arc<AtomicUsize>>) -> (MemoryTransport, MemoryTransport) {
    let (a_tx, b_rx) = mpsc::channel(MEMORY_CHANNEL_DEPTH);
    let (b_tx, a_rx) = mpsc::channel(MEMORY_CHANNEL_DEPTH);
    (
        MemoryTransport {
            tx: a_tx,
            rx: a_rx,
            budget: budget.clone(),
        },
        MemoryTransport {
            tx: b_tx,
            rx: b_rx,
            budget,
        },
    )
}

/// The sending half.
pub struct MemoryWriter {
    tx: Option<mpsc::Sender<Vec<u8>>>,
    budget: Option<Arc<AtomicUsize>>,
}

/// The receiving half.
pub struct MemoryReader {
    rx: mpsc::Receiver<Vec<u8>>,
    budget: Option<Arc<AtomicUsize>>,
}

impl Transport for MemoryTransport {
    type Writer = MemoryWriter;
    type Reader = MemoryReader;
    fn split(self) -> (MemoryReader, MemoryWriter) {
        (
            MemoryReader {
                rx: self.rx,
                budget: self.budget.clone(),
            },
            MemoryWriter {
                tx: Some(self.tx),
                budget: self.budget,
            },
        )
    }
}

fn cut(budget: &Option<Arc<AtomicUsize>>) -> bool {
    budget
        .as_ref()
        .is_some_and(|b| b.load(Ordering::SeqCst) == 0)
}

impl TransportWriter for MemoryWriter {
    async fn send(&mut self, msg: &[u8]) -> Result<(), SyncError> {
        if let Some(b) = &self.budget {
            let left = b.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
            if left.is_err() {
                self.tx = None;
                return Err(SyncError::Transport("connection cut".into()));
            }
        }
        let tx = self
            .tx
            .as_ref()
            .ok_or_else(|| SyncError::Transport("connection cut".into()))?;
        tx.send(msg.to_vec())
            .await
            .map_err(|_| SyncError::Transport("peer closed".into()))
    }
}

impl TransportReader for MemoryReader {
    async fn recv(&mut self) -> Result<Vec<u8>, SyncError> {
        if cut(&self.budget) {
            // Deliver nothing more once the connection is cut, like a dead socket.
            self.rx.close();
        }
        self.rx
            .recv()
            .await
            .ok_or_else(|| SyncError::Transport("peer closed".into()))
    }
}
