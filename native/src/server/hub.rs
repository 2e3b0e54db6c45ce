//! Which socket follows which topic, and the fan-out of every change to them.
//!
//! One dispatcher task reads the presence service's events in order. A diff is encoded once
//! per topic as a `presence_diff` frame and queued to that topic's Phoenix sockets; an applied
//! delta is projected once per topic and encoded once per format for its CRDT sync sockets; a
//! liveness verdict goes to every CRDT sync socket. Queues are bounded: a socket too slow to
//! keep up is told to close rather than silently skip a change.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use beryl_core::wire::phoenix;
use beryl_core::{Delta, Diff, Dot, Message, ReplicaId, ReplicaStatus};
use tokio::sync::{Notify, mpsc};
use tokio_tungstenite::tungstenite::{Bytes, Utf8Bytes};

use super::coalesce::{EntryIndex, Withheld};
use super::frame::{self, events};
use super::join::{SyncFormat, SyncMode};
use super::service::{PresenceService, ServiceEvent, SyncSnapshot};

/// A frame queued for one socket. Shared frames are encoded once for all their recipients:
/// cloning one shares its bytes, and no copy is made on the way to the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outbound {
    /// A text frame.
    Text(Utf8Bytes),
    /// A binary frame.
    Binary(Bytes),
}

impl Outbound {
    /// A text frame from a string.
    pub fn text(text: String) -> Self {
        Outbound::Text(Utf8Bytes::from(text))
    }

    /// The payload's length in bytes.
    pub fn len(&self) -> usize {
        match self {
            Outbound::Text(text) => text.len(),
            Outbound::Binary(bytes) => bytes.len(),
        }
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A frame in a socket's queue, with the join it was queued for: the frames of a join that
/// was replaced or left before they were written are dropped, since the join that replaced it
/// starts from a state that already holds them.
#[derive(Clone, Debug)]
pub struct Queued {
    /// The join, as numbered by [`Hub::subscribe`].
    pub join: u64,
    /// The frame.
    pub frame: Outbound,
}

/// The way to reach one socket: its bounded queue, the count of bytes waiting to be sent to
/// it, and the signal that closes it when either overflows.
#[derive(Clone, Debug)]
pub struct SocketLink {
    id: u64,
    queue: mpsc::Sender<Queued>,
    overflow: Arc<Notify>,
    /// Bytes queued or being written.
    pending: Arc<AtomicUsize>,
    budget: usize,
}

impl SocketLink {
    /// A link for socket `id` with no byte budget, and the receiving ends its task reads.
    pub fn new(id: u64, capacity: usize) -> (SocketLink, mpsc::Receiver<Queued>, Arc<Notify>) {
        Self::with_budget(id, capacity, usize::MAX)
    }

    /// A link for socket `id` that may hold `capacity` frames and `budget` bytes waiting to be
    /// sent (queued, or being written), and the receiving ends its task reads.
    pub fn with_budget(
        id: u64,
        capacity: usize,
        budget: usize,
    ) -> (SocketLink, mpsc::Receiver<Queued>, Arc<Notify>) {
        let (queue, receiver) = mpsc::channel(capacity.max(1));
        let overflow = Arc::new(Notify::new());
        (
            SocketLink {
                id,
                queue,
                overflow: overflow.clone(),
                pending: Arc::new(AtomicUsize::new(0)),
                budget,
            },
            receiver,
            overflow,
        )
    }

    /// The socket's id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The bytes waiting to be sent to the socket: queued, or being written.
    pub fn pending_bytes(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    /// The most bytes that may wait to be sent to the socket.
    pub fn budget(&self) -> usize {
        self.budget
    }

    /// The socket's task starts writing `bytes` that were not queued (its own replies).
    pub fn writing(&self, bytes: usize) {
        self.pending.fetch_add(bytes, Ordering::Relaxed);
    }

    /// The socket's task wrote (or gave up on) `bytes` it had queued or was writing.
    pub fn written(&self, bytes: usize) {
        self.pending.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// Queues a frame; a socket whose queue is full, or that would go over its byte budget,
    /// is told to close instead: skipping a frame would corrupt its client's view.
    fn deliver(&self, join: u64, frame: Outbound) {
        let bytes = frame.len();
        let pending = self.pending.fetch_add(bytes, Ordering::Relaxed);
        if pending.saturating_add(bytes) > self.budget {
            self.pending.fetch_sub(bytes, Ordering::Relaxed);
            self.overflow.notify_one();
            return;
        }
        if let Err(error) = self.queue.try_send(Queued { join, frame }) {
            self.pending.fetch_sub(bytes, Ordering::Relaxed);
            if let mpsc::error::TrySendError::Full(_) = error {
                self.overflow.notify_one();
            }
        }
    }
}

#[derive(Debug)]
struct Subscriber {
    link: SocketLink,
    join_ref: Arc<str>,
    /// Which join of the socket this is (see [`Queued::join`]).
    join: u64,
}

impl Subscriber {
    fn deliver(&self, frame: Outbound) {
        self.link.deliver(self.join, frame);
    }
}

#[derive(Debug, Default)]
struct Topics {
    /// Sockets fed `presence_diff` frames, per topic.
    phoenix: HashMap<Arc<str>, Vec<Subscriber>>,
    /// Sockets on the CRDT sync option, per topic and format.
    crdt: HashMap<Arc<str>, Vec<(SyncFormat, Subscriber)>>,
    /// The topic of each entry of the topics in `crdt`.
    index: EntryIndex,
    /// Deltas withheld from CRDT topics until the next flush.
    withheld: Withheld,
}

/// Topic subscriptions of every socket of a server, and the fan-out of changes to them.
#[derive(Debug)]
pub struct Hub {
    replica: ReplicaId,
    topics: Mutex<Topics>,
    next_join: AtomicU64,
}

impl Hub {
    /// An empty hub for a server running as `replica` (the sender of CRDT sync messages).
    pub fn new(replica: ReplicaId) -> Self {
        Hub {
            replica,
            topics: Mutex::new(Topics::default()),
            next_join: AtomicU64::new(1),
        }
    }

    fn topics(&self) -> MutexGuard<'_, Topics> {
        // The lock guards plain maps that every operation leaves consistent.
        self.topics.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts feeding `topic`'s changes to a socket, in `mode`. Returns the number of this
    /// join, which the frames queued for it carry.
    pub fn subscribe(&self, topic: &str, link: SocketLink, join_ref: &str, mode: SyncMode) -> u64 {
        let join = self.next_join.fetch_add(1, Ordering::Relaxed);
        let subscriber = Subscriber {
            link,
            join_ref: Arc::from(join_ref),
            join,
        };
        let mut topics = self.topics();
        match mode {
            SyncMode::Phoenix => topics
                .phoenix
                .entry(Arc::from(topic))
                .or_default()
                .push(subscriber),
            SyncMode::Crdt(format) => topics
                .crdt
                .entry(Arc::from(topic))
                .or_default()
                .push((format, subscriber)),
        }
        join
    }

    /// Stops feeding `topic` to socket `socket`.
    pub fn unsubscribe(&self, topic: &str, socket: u64) {
        let mut topics = self.topics();
        if let Some(list) = topics.phoenix.get_mut(topic) {
            list.retain(|subscriber| subscriber.link.id != socket);
            if list.is_empty() {
                topics.phoenix.remove(topic);
            }
        }
        if let Some(list) = topics.crdt.get_mut(topic) {
            list.retain(|(_, subscriber)| subscriber.link.id != socket);
            if list.is_empty() {
                topics.crdt.remove(topic);
                topics.index.forget_topic(topic);
            }
        }
    }

    /// Records the entries of a CRDT sync socket's initial state of `topic` (its projection),
    /// so that their removals reach the topic's sockets at once.
    pub fn note_entries(&self, topic: &str, projection: &Delta) {
        let mut guard = self.topics();
        let topics = &mut *guard;
        let Some((topic, _)) = topics.crdt.get_key_value(topic) else {
            return;
        };
        for (replica, counter, _) in projection.store().iter() {
            topics
                .index
                .insert(Dot::new(replica.clone(), counter), topic.clone());
        }
    }

    /// How many (socket, topic) subscriptions there are.
    pub fn subscriptions(&self) -> usize {
        let topics = self.topics();
        topics.phoenix.values().map(Vec::len).sum::<usize>()
            + topics.crdt.values().map(Vec::len).sum::<usize>()
    }

    /// Queues an event's frames to the sockets concerned. Returns false for
    /// [`ServiceEvent::Lagged`], which needs [`resync`](Self::resync).
    pub fn dispatch(&self, event: &ServiceEvent) -> bool {
        match event {
            ServiceEvent::Diff(diff) => self.dispatch_diff(diff),
            ServiceEvent::Applied(delta) => self.dispatch_delta(delta),
            ServiceEvent::Liveness { replica, status } => self.dispatch_verdict(replica, *status),
            ServiceEvent::Lagged => return false,
        }
        true
    }

    fn dispatch_diff(&self, diff: &Diff) {
        let topics = self.topics();
        for (topic, changes) in diff.topics() {
            let Some(subscribers) = topics.phoenix.get(topic) else {
                continue;
            };
            let payload = phoenix::encode_topic_diff(changes);
            let frame = Outbound::text(phoenix::frame(
                None,
                None,
                topic,
                events::PRESENCE_DIFF,
                &payload,
            ));
            for subscriber in subscribers {
                subscriber.deliver(frame.clone());
            }
        }
    }

    /// Sends a delta's projection at once to the CRDT topics it holds entries of or removes an
    /// entry of, and withholds it from the others until the next
    /// [`flush_withheld`](Self::flush_withheld): to them it is only context.
    fn dispatch_delta(&self, delta: &Arc<Delta>) {
        let mut guard = self.topics();
        let topics = &mut *guard;
        if topics.crdt.is_empty() {
            return;
        }
        let mut now = topics.index.removed_by(delta);
        for (replica, counter, entry) in delta.store().iter() {
            if let Some((topic, _)) = topics.crdt.get_key_value(entry.topic()) {
                topics
                    .index
                    .insert(Dot::new(replica.clone(), counter), topic.clone());
                now.insert(topic.clone());
            }
        }
        let mut sent = Vec::with_capacity(now.len());
        for topic in now {
            let Some(subscribers) = topics.crdt.get(&topic) else {
                continue;
            };
            let message = Message::Delta {
                from: self.replica.clone(),
                delta: delta.project(&topic),
            };
            let mut encoded = Encoded::new(&topic, None, &message);
            for (format, subscriber) in subscribers {
                if let Some(frame) = encoded.frame(*format) {
                    subscriber.deliver(frame);
                }
            }
            sent.push(topic);
        }
        if sent.len() < topics.crdt.len() {
            topics.withheld.push(delta.clone(), sent);
        }
    }

    /// Sends each CRDT topic, as one context-only delta, the contexts of the deltas withheld
    /// from it since the last flush. The dispatcher calls this once per
    /// [`ServerConfig::crdt_context_interval`](super::ServerConfig::crdt_context_interval).
    pub fn flush_withheld(&self) {
        let mut guard = self.topics();
        let topics = &mut *guard;
        if topics.withheld.is_empty() {
            return;
        }
        for (context, owed) in topics.withheld.take(topics.crdt.keys()) {
            let message = Message::Delta {
                from: self.replica.clone(),
                delta: Delta::from_parts(Default::default(), context),
            };
            let mut payload = Payload::new(&message);
            for topic in owed {
                for (format, subscriber) in topics.crdt.get(topic).into_iter().flatten() {
                    if let Some(frame) = payload.frame(topic, *format) {
                        subscriber.deliver(frame);
                    }
                }
            }
        }
    }

    fn dispatch_verdict(&self, replica: &ReplicaId, status: ReplicaStatus) {
        let topics = self.topics();
        let message = Message::Liveness {
            from: self.replica.clone(),
            replica: replica.clone(),
            status,
        };
        for (topic, subscribers) in &topics.crdt {
            let mut encoded = Encoded::new(topic, None, &message);
            for (format, subscriber) in subscribers {
                if let Some(frame) = encoded.frame(*format) {
                    subscriber.deliver(frame);
                }
            }
        }
    }

    /// The service stopped: tells every subscribed channel that its server side failed
    /// (`phx_error`) and forgets the subscriptions. The sockets stay open; a rejoin is
    /// refused for as long as the service is down.
    pub fn fail_all(&self) {
        let topics = std::mem::take(&mut *self.topics());
        let subscribers = topics
            .phoenix
            .iter()
            .flat_map(|(topic, list)| list.iter().map(move |subscriber| (topic, subscriber)))
            .chain(topics.crdt.iter().flat_map(|(topic, list)| {
                list.iter().map(move |(_, subscriber)| (topic, subscriber))
            }));
        for (topic, subscriber) in subscribers {
            subscriber.deliver(Outbound::text(frame::channel_error(
                &subscriber.join_ref,
                topic,
            )));
        }
    }

    /// Sends every subscribed socket a fresh state of its topic, after events were lost.
    /// `phoenix.js` diffs a repeated `presence_state` against what it shows; a client replica
    /// merges a repeated snapshot like any other delta.
    pub async fn resync<S: PresenceService>(&self, service: &S) {
        let (phoenix_topics, crdt_topics): (Vec<Arc<str>>, Vec<Arc<str>>) = {
            let topics = self.topics();
            (
                topics.phoenix.keys().cloned().collect(),
                topics.crdt.keys().cloned().collect(),
            )
        };
        for topic in phoenix_topics {
            let Ok(state) = service.presence_state(&topic).await else {
                return;
            };
            let topics = self.topics();
            for subscriber in topics.phoenix.get(&topic).into_iter().flatten() {
                subscriber.deliver(Outbound::text(phoenix::frame(
                    Some(&subscriber.join_ref),
                    None,
                    &topic,
                    events::PRESENCE_STATE,
                    &state,
                )));
            }
        }
        for topic in crdt_topics {
            let Ok(snapshot) = service.sync_snapshot(&topic).await else {
                return;
            };
            self.note_entries(&topic, &snapshot.delta);
            let topics = self.topics();
            for (format, subscriber) in topics.crdt.get(&topic).into_iter().flatten() {
                for frame in snapshot_frames(
                    &self.replica,
                    &topic,
                    &subscriber.join_ref,
                    *format,
                    &snapshot,
                ) {
                    subscriber.deliver(frame);
                }
            }
        }
    }
}

/// The frames that start a CRDT sync client of `topic`: the projection as a delta, then each
/// verdict, all carrying the join's `join_ref`.
pub fn snapshot_frames(
    replica: &ReplicaId,
    topic: &str,
    join_ref: &str,
    format: SyncFormat,
    snapshot: &SyncSnapshot,
) -> Vec<Outbound> {
    let mut messages = vec![Message::Delta {
        from: replica.clone(),
        delta: snapshot.delta.clone(),
    }];
    messages.extend(
        snapshot
            .verdicts
            .iter()
            .map(|(verdict_replica, status)| Message::Liveness {
                from: replica.clone(),
                replica: verdict_replica.clone(),
                status: *status,
            }),
    );
    messages
        .iter()
        .filter_map(|message| Encoded::new(topic, Some(join_ref), message).frame(format))
        .collect()
}

/// One message for one topic, encoded at most once per format.
struct Encoded<'a> {
    topic: &'a str,
    join_ref: Option<&'a str>,
    message: &'a Message,
    binary: Option<Option<Outbound>>,
    json: Option<Outbound>,
}

impl<'a> Encoded<'a> {
    fn new(topic: &'a str, join_ref: Option<&'a str>, message: &'a Message) -> Self {
        Encoded {
            topic,
            join_ref,
            message,
            binary: None,
            json: None,
        }
    }

    fn frame(&mut self, format: SyncFormat) -> Option<Outbound> {
        match format {
            SyncFormat::Binary => self
                .binary
                .get_or_insert_with(|| {
                    let bytes = beryl_core::wire::encode_binary(self.message);
                    let framed = match self.join_ref {
                        Some(join_ref) => {
                            frame::binary_push(join_ref, self.topic, events::BERYL_SYNC, &bytes)
                        }
                        None => frame::binary_broadcast(self.topic, events::BERYL_SYNC, &bytes),
                    };
                    framed.map(|bytes| Outbound::Binary(Bytes::from(bytes)))
                })
                .clone(),
            SyncFormat::Json => Some(
                self.json
                    .get_or_insert_with(|| {
                        let json = beryl_core::wire::encode_json(self.message);
                        Outbound::text(phoenix::frame(
                            self.join_ref,
                            None,
                            self.topic,
                            events::BERYL_SYNC,
                            &json,
                        ))
                    })
                    .clone(),
            ),
        }
    }
}

/// One broadcast message for many topics: its payload encoded at most once per format, framed
/// for each topic.
struct Payload<'a> {
    message: &'a Message,
    binary: Option<Vec<u8>>,
    json: Option<String>,
}

impl<'a> Payload<'a> {
    fn new(message: &'a Message) -> Self {
        Payload {
            message,
            binary: None,
            json: None,
        }
    }

    fn frame(&mut self, topic: &str, format: SyncFormat) -> Option<Outbound> {
        let message = self.message;
        match format {
            SyncFormat::Binary => {
                let bytes = self
                    .binary
                    .get_or_insert_with(|| beryl_core::wire::encode_binary(message));
                frame::binary_broadcast(topic, events::BERYL_SYNC, bytes)
                    .map(|framed| Outbound::Binary(Bytes::from(framed)))
            }
            SyncFormat::Json => {
                let json = self
                    .json
                    .get_or_insert_with(|| beryl_core::wire::encode_json(message));
                Some(Outbound::text(phoenix::frame(
                    None,
                    None,
                    topic,
                    events::BERYL_SYNC,
                    json,
                )))
            }
        }
    }
}

/// Reads the service's events and fans them out until the service stops; then every channel
/// still subscribed is told its server side failed. Every `flush_every`, the context withheld
/// from CRDT topics is sent (see [`Hub::flush_withheld`]).
pub async fn run_dispatcher<S: PresenceService>(
    hub: Arc<Hub>,
    service: S,
    mut events: mpsc::Receiver<ServiceEvent>,
    flush_every: Duration,
) {
    let mut flush = tokio::time::interval(flush_every.max(Duration::from_millis(1)));
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { break };
                if !hub.dispatch(&event) {
                    hub.resync(&service).await;
                }
            }
            _ = flush.tick() => hub.flush_withheld(),
        }
    }
    hub.fail_all();
}
