//! A presence service over a bare `PresenceState`, for testing the endpoint without the actor.
//! Events are kept until the test dispatches them, so tests decide exactly when fan-out
//! happens. A subscriber's queue holds `EVENT_QUEUE` events; past that, events are dropped and
//! the next one that fits is preceded by `Lagged`, as the node's streams behave.

use std::sync::{Arc, Mutex};

use beryl_core::wire::phoenix;
use beryl_core::{Meta, PresenceState, ReplicaId};
use tokio::sync::mpsc;

use super::error::ServiceError;
use super::service::{PresenceService, ServiceEvent, SyncSnapshot};

#[derive(Clone)]
pub struct LocalService {
    inner: Arc<Mutex<Inner>>,
    replica: ReplicaId,
}

pub const EVENT_QUEUE: usize = 64;

struct Subscriber {
    queue: mpsc::Sender<ServiceEvent>,
    lagged: bool,
}

impl Subscriber {
    /// Queues `event`; false once the subscriber is gone.
    fn send(&mut self, event: &ServiceEvent) -> bool {
        if self.lagged {
            match self.queue.try_send(ServiceEvent::Lagged) {
                Ok(()) => self.lagged = false,
                Err(mpsc::error::TrySendError::Full(_)) => return true,
                Err(mpsc::error::TrySendError::Closed(_)) => return false,
            }
        }
        match self.queue.try_send(event.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.lagged = true;
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

struct Inner {
    state: PresenceState,
    subscribers: Vec<Subscriber>,
    stopped: bool,
}

impl LocalService {
    pub fn new(name: &str) -> Self {
        let replica = ReplicaId::new(name, 1);
        LocalService {
            inner: Arc::new(Mutex::new(Inner {
                state: PresenceState::new(replica.clone()),
                subscribers: Vec::new(),
                stopped: false,
            })),
            replica,
        }
    }

    pub fn with_state<T>(&self, read: impl FnOnce(&mut PresenceState) -> T) -> T {
        read(&mut self.inner.lock().unwrap().state)
    }

    /// Applies a change made with `with_state` elsewhere: emits its events.
    pub fn emit(&self, events: Vec<ServiceEvent>) {
        let mut inner = self.inner.lock().unwrap();
        for event in events {
            inner
                .subscribers
                .retain_mut(|subscriber| subscriber.send(&event));
        }
    }

    /// Stops the service: every later call fails with `Stopped`, and the event queues end.
    pub fn stop(&self) {
        let mut inner = self.inner.lock().unwrap();
        inner.stopped = true;
        inner.subscribers.clear();
    }

    fn running(&self) -> Result<std::sync::MutexGuard<'_, Inner>, ServiceError> {
        let inner = self.inner.lock().unwrap();
        if inner.stopped {
            return Err(ServiceError::Stopped);
        }
        Ok(inner)
    }

    fn change(
        &self,
        apply: impl FnOnce(&mut PresenceState) -> Result<(beryl_core::Delta, beryl_core::Diff), String>,
    ) -> Result<(), ServiceError> {
        let mut inner = self.running()?;
        let (delta, diff) = apply(&mut inner.state).map_err(ServiceError::Refused)?;
        let mut events = vec![ServiceEvent::Applied(Arc::new(delta))];
        if !diff.is_empty() {
            events.push(ServiceEvent::Diff(Arc::new(diff)));
        }
        for event in events {
            inner
                .subscribers
                .retain_mut(|subscriber| subscriber.send(&event));
        }
        Ok(())
    }
}

impl PresenceService for LocalService {
    fn replica(&self) -> ReplicaId {
        self.replica.clone()
    }

    async fn track(
        &self,
        topic: &str,
        key: &str,
        pid: &str,
        meta: Meta,
    ) -> Result<(), ServiceError> {
        self.change(|state| {
            state
                .track(topic, key, pid, &meta)
                .map(|tracked| (tracked.delta(), tracked.diff()))
                .map_err(|error| error.to_string())
        })
    }

    async fn update(
        &self,
        topic: &str,
        key: &str,
        pid: &str,
        meta: Meta,
    ) -> Result<(), ServiceError> {
        self.change(|state| {
            state
                .update(topic, key, pid, &meta)
                .map(|tracked| (tracked.delta(), tracked.diff()))
                .map_err(|error| error.to_string())
        })
    }

    async fn untrack(&self, topic: &str, key: &str, pid: &str) -> Result<(), ServiceError> {
        self.change(|state| {
            let change = state.untrack(topic, key, pid);
            Ok((change.delta, change.diff))
        })
    }

    async fn untrack_all(&self, pid: &str) -> Result<(), ServiceError> {
        self.change(|state| {
            let change = state.untrack_all(pid);
            Ok((change.delta, change.diff))
        })
    }

    async fn presence_state(&self, topic: &str) -> Result<String, ServiceError> {
        let inner = self.running()?;
        Ok(phoenix::presence_state(&inner.state, topic))
    }

    async fn sync_snapshot(&self, topic: &str) -> Result<SyncSnapshot, ServiceError> {
        drop(self.running()?);
        Ok(self.with_state(|state| SyncSnapshot {
            delta: state.topic_projection(topic),
            verdicts: state
                .replicas()
                .into_iter()
                .filter(|(replica, _)| replica != state.replica())
                .collect(),
        }))
    }

    async fn subscribe(&self) -> Result<mpsc::Receiver<ServiceEvent>, ServiceError> {
        let (queue, receiver) = mpsc::channel(EVENT_QUEUE);
        self.running()?.subscribers.push(Subscriber {
            queue,
            lagged: false,
        });
        Ok(receiver)
    }
}
