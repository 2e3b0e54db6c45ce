//! Diff delivery: subscriber streams with bounded queues, and the `on_diff` callback on a thread
//! of its own.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc as std_mpsc;

use beryl_core::Diff;
use thiserror::Error;
use tokio::sync::broadcast;

use crate::config::DiffCallback;

/// Why [`DiffStream::recv`] returned no diff.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum DiffStreamError {
    /// The subscriber fell further behind than its queue allows: the `missed` oldest diffs were
    /// dropped. The next call returns the oldest diff still queued. Re-read the presences
    /// (for example [`PresenceHandle::list`](crate::PresenceHandle::list)) to resynchronise.
    #[error("the diff subscriber lagged and missed {missed} diffs; re-read the presences")]
    Lagged {
        /// How many diffs were dropped.
        missed: u64,
    },
    /// The node has stopped: no more diffs will come.
    #[error("the presence node has stopped")]
    Closed,
}

/// Every diff of a node, in order, from the moment of subscribing. A slow subscriber does not
/// slow the node down: its queue is bounded, and when it overflows the subscriber gets
/// [`DiffStreamError::Lagged`].
#[derive(Debug)]
pub struct DiffStream {
    receiver: Option<broadcast::Receiver<Arc<Diff>>>,
}

impl DiffStream {
    pub(crate) fn new(receiver: Option<broadcast::Receiver<Arc<Diff>>>) -> Self {
        DiffStream { receiver }
    }

    /// The next diff.
    pub async fn recv(&mut self) -> Result<Arc<Diff>, DiffStreamError> {
        let Some(receiver) = self.receiver.as_mut() else {
            return Err(DiffStreamError::Closed);
        };
        match receiver.recv().await {
            Ok(diff) => Ok(diff),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                Err(DiffStreamError::Lagged { missed })
            }
            Err(broadcast::error::RecvError::Closed) => Err(DiffStreamError::Closed),
        }
    }

    /// The next diff if one is queued, without waiting.
    pub fn try_recv(&mut self) -> Option<Result<Arc<Diff>, DiffStreamError>> {
        let receiver = self.receiver.as_mut()?;
        match receiver.try_recv() {
            Ok(diff) => Some(Ok(diff)),
            Err(broadcast::error::TryRecvError::Lagged(missed)) => {
                Some(Err(DiffStreamError::Lagged { missed }))
            }
            Err(broadcast::error::TryRecvError::Closed) => Some(Err(DiffStreamError::Closed)),
            Err(broadcast::error::TryRecvError::Empty) => None,
        }
    }
}

/// Runs the `on_diff` callback on a dedicated thread, in order. The queue is unbounded so that
/// no diff is ever lost; a growing backlog is logged.
pub(crate) struct CallbackWorker {
    sender: std_mpsc::Sender<Arc<Diff>>,
    backlog: Arc<AtomicUsize>,
    warned_at: usize,
}

const BACKLOG_WARNING: usize = 10_000;

impl CallbackWorker {
    pub(crate) fn start(callback: DiffCallback, replica: String) -> std::io::Result<Self> {
        let (sender, receiver) = std_mpsc::channel::<Arc<Diff>>();
        let backlog = Arc::new(AtomicUsize::new(0));
        let pending = backlog.clone();
        std::thread::Builder::new()
            .name(format!("beryl-on-diff-{replica}"))
            .spawn(move || {
                while let Ok(diff) = receiver.recv() {
                    pending.fetch_sub(1, Ordering::Relaxed);
                    if catch_unwind(AssertUnwindSafe(|| callback(&diff))).is_err() {
                        tracing::error!(
                            replica = %replica,
                            "the on_diff callback panicked; the diff is skipped and the node goes on"
                        );
                    }
                }
            })?;
        Ok(CallbackWorker {
            sender,
            backlog,
            warned_at: BACKLOG_WARNING,
        })
    }

    pub(crate) fn send(&mut self, diff: Arc<Diff>) {
        let backlog = self.backlog.fetch_add(1, Ordering::Relaxed) + 1;
        if backlog >= self.warned_at {
            tracing::warn!(backlog, "the on_diff callback is falling behind");
            self.warned_at = backlog.saturating_mul(10);
        } else if backlog < BACKLOG_WARNING / 2 {
            self.warned_at = BACKLOG_WARNING;
        }
        let _ = self.sender.send(diff);
    }
}
