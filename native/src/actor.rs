//! The private task that owns a node's state: it runs the sync engine, serves the handles'
//! commands, and carries the engine's messages to and from the PubSub.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use beryl_core::sync::{Destination, Event, PeerInfo, SyncEngine};
use beryl_core::wire::WireLimits;
use beryl_core::{DotRanges, Meta, Ref, ReplicaId, ReplicaStatus, TrackError, UpdateError};
use bytes::Bytes;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::codec;
use crate::diffs::CallbackWorker;
use crate::feed::{FeedEvent, ReplicationFeed, TopicSnapshot};
use crate::pubsub::{NodeId, PubSub, Subscription};
use crate::read_model::ReadModelWriter;

/// What a handle asks of the actor.
pub(crate) enum Command {
    Track {
        topic: String,
        key: String,
        pid: String,
        meta: Meta,
        reply: oneshot::Sender<Result<Ref, TrackError>>,
    },
    Update {
        topic: String,
        key: String,
        pid: String,
        meta: Meta,
        reply: oneshot::Sender<Result<Ref, UpdateError>>,
    },
    Untrack {
        topic: String,
        key: String,
        pid: String,
        reply: oneshot::Sender<usize>,
    },
    UntrackAll {
        pid: String,
        reply: oneshot::Sender<usize>,
    },
    Peers {
        reply: oneshot::Sender<Vec<PeerInfo>>,
    },
    OpenFeed {
        reply: oneshot::Sender<Option<ReplicationFeed>>,
    },
    TopicSnapshot {
        topic: String,
        reply: oneshot::Sender<Option<TopicSnapshot>>,
    },
    Stop {
        reply: oneshot::Sender<()>,
    },
}

/// The PubSub side of a node: where messages come from and go to.
pub(crate) struct Link {
    /// `None` once the subscription has ended.
    pub(crate) inbound: Option<Subscription>,
    pub(crate) outbound: mpsc::Sender<Outgoing>,
    pub(crate) sender_task: JoinHandle<()>,
}

/// One encoded message for the sending task.
pub(crate) struct Outgoing {
    to: Option<NodeId>,
    payload: Bytes,
}

pub(crate) struct Actor {
    pub(crate) engine: SyncEngine,
    pub(crate) clock: Clock,
    pub(crate) commands: mpsc::Receiver<Command>,
    pub(crate) link: Option<Link>,
    pub(crate) wire_limits: WireLimits,
    pub(crate) read_model: ReadModelWriter,
    pub(crate) diffs: broadcast::Sender<Arc<beryl_core::Diff>>,
    pub(crate) callback: Option<CallbackWorker>,
    pub(crate) feed: Option<broadcast::Sender<FeedEvent>>,
    /// The PubSub node of each replica heard, for direct replies.
    pub(crate) routes: HashMap<ReplicaId, NodeId>,
}

/// How long `stop` waits for the goodbye to leave.
const GOODBYE_TIMEOUT: Duration = Duration::from_secs(2);

impl Actor {
    pub(crate) async fn run(mut self) {
        tracing::info!(replica = %self.engine.replica(), "presence node started");
        // The engine announced itself when created.
        self.flush();
        loop {
            let deadline = self
                .engine
                .next_timeout()
                .map(|ms| self.clock.instant_at(ms));
            tokio::select! {
                command = self.commands.recv() => match command {
                    Some(Command::Stop { reply }) => {
                        self.stop().await;
                        let _ = reply.send(());
                        return;
                    }
                    Some(command) => self.handle(command),
                    None => {
                        // Every handle is gone: end without a goodbye, as a crash would.
                        tracing::info!(replica = %self.engine.replica(), "presence node dropped");
                        return;
                    }
                },
                received = next_inbound(&mut self.link) => match received {
                    Some((from, payload)) => self.receive(from, &payload),
                    None => {
                        tracing::error!(
                            replica = %self.engine.replica(),
                            "the PubSub subscription ended; this node no longer hears its peers"
                        );
                        // Keep sending; stop polling the finished subscription.
                        if let Some(link) = self.link.as_mut() {
                            link.inbound = None;
                        }
                    }
                },
                () = sleep_until(deadline) => {
                    self.engine.tick(self.clock.now_ms());
                }
            }
            self.flush();
        }
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Track {
                topic,
                key,
                pid,
                meta,
                reply,
            } => {
                let result = self.engine.track(&topic, &key, &pid, &meta);
                self.flush_events();
                let _ = reply.send(result);
            }
            Command::Update {
                topic,
                key,
                pid,
                meta,
                reply,
            } => {
                let result = self.engine.update(&topic, &key, &pid, &meta);
                self.flush_events();
                let _ = reply.send(result);
            }
            Command::Untrack {
                topic,
                key,
                pid,
                reply,
            } => {
                let removed = self.engine.untrack(&topic, &key, &pid);
                self.flush_events();
                let _ = reply.send(removed);
            }
            Command::UntrackAll { pid, reply } => {
                let removed = self.engine.untrack_all(&pid);
                self.flush_events();
                let _ = reply.send(removed);
            }
            Command::Peers { reply } => {
                let _ = reply.send(self.engine.peers());
            }
            Command::OpenFeed { reply } => {
                let feed = self.feed.as_ref().map(|sender| {
                    ReplicationFeed::new(
                        self.engine.replica().clone(),
                        self.engine.state().full_state(None),
                        sender.subscribe(),
                    )
                });
                let _ = reply.send(feed);
            }
            Command::TopicSnapshot { topic, reply } => {
                // Costs the topic's entries (and down replicas' entries), not the whole state:
                // joins of small topics stay cheap however large the node grows.
                let snapshot = self.feed.is_some().then(|| {
                    let state = self.engine.state();
                    TopicSnapshot {
                        delta: state.topic_projection(&topic),
                        verdicts: state
                            .replicas()
                            .into_iter()
                            .filter(|(replica, _)| replica != state.replica())
                            .collect(),
                    }
                });
                let _ = reply.send(snapshot);
            }
            Command::Stop { .. } => {}
        }
    }

    fn receive(&mut self, from: NodeId, payload: &[u8]) {
        let message = match codec::decode(payload, &self.wire_limits) {
            Ok(message) => message,
            Err(error) => {
                tracing::warn!(%from, %error, "ignoring a replication message that does not decode");
                return;
            }
        };
        let sender = message.from().clone();
        self.engine.receive(self.clock.now_ms(), message);
        // Only peers the engine keeps get a route: stale incarnations and removed replicas
        // must not accumulate here.
        if self.engine.is_peer(&sender) {
            self.routes.insert(sender, from);
        } else {
            self.routes.remove(&sender);
        }
    }

    /// Reports every pending event, then sends every pending message.
    fn flush(&mut self) {
        self.flush_events();
        self.flush_transmits();
    }

    fn flush_events(&mut self) {
        while let Some(event) = self.engine.poll_event() {
            match event {
                Event::Diff(diff) => {
                    self.read_model.apply(self.engine.state(), &diff);
                    let diff = Arc::new(diff);
                    if let Some(callback) = self.callback.as_mut() {
                        callback.send(diff.clone());
                    }
                    // No subscriber is not an error.
                    let _ = self.diffs.send(diff);
                }
                Event::Liveness { replica, status } => {
                    tracing::info!(%replica, ?status, "peer liveness changed");
                    if status == ReplicaStatus::Removed {
                        self.routes.remove(&replica);
                    }
                    if let Some(feed) = &self.feed {
                        let _ = feed.send(FeedEvent::Liveness {
                            replica: replica.clone(),
                            status,
                        });
                        if status == ReplicaStatus::Up {
                            // Clients that never saw its entries get them now.
                            let entries = self
                                .engine
                                .state()
                                .repair_since(&replica, &DotRanges::new());
                            let _ = feed.send(FeedEvent::Applied(Arc::new(entries)));
                        }
                    }
                }
                Event::Applied(delta) => {
                    if let Some(feed) = &self.feed {
                        let _ = feed.send(FeedEvent::Applied(Arc::new(delta)));
                    }
                }
            }
        }
        self.read_model.publish();
    }

    fn flush_transmits(&mut self) {
        while let Some(transmit) = self.engine.poll_transmit() {
            let Some(link) = &self.link else {
                continue;
            };
            let to = match &transmit.destination {
                Destination::Broadcast => None,
                Destination::Replica(replica) => match self.routes.get(replica) {
                    Some(node) => Some(node.clone()),
                    None => {
                        tracing::debug!(%replica, "no PubSub node known for this replica; message dropped");
                        continue;
                    }
                },
            };
            let payload = codec::encode(&transmit.message);
            if link.outbound.try_send(Outgoing { to, payload }).is_err() {
                tracing::debug!("outbound queue full; message dropped (the protocol repairs it)");
            }
        }
    }

    async fn stop(&mut self) {
        self.engine.stop();
        self.flush();
        self.read_model.clear();
        if let Some(link) = self.link.take() {
            let Link {
                outbound,
                sender_task,
                ..
            } = link;
            drop(outbound);
            if tokio::time::timeout(GOODBYE_TIMEOUT, sender_task)
                .await
                .is_err()
            {
                tracing::warn!(
                    "the goodbye could not be sent in time; peers will time this node out"
                );
            }
        }
        tracing::info!(replica = %self.engine.replica(), "presence node stopped");
    }
}

async fn next_inbound(link: &mut Option<Link>) -> Option<(NodeId, Bytes)> {
    match link.as_mut().and_then(|link| link.inbound.as_mut()) {
        Some(inbound) => inbound
            .recv()
            .await
            .map(|received| (received.from, received.payload)),
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Sends what the actor queued, in order, so the actor never waits for the network.
pub(crate) async fn send_loop(
    pubsub: Arc<dyn PubSub>,
    topic: String,
    mut queue: mpsc::Receiver<Outgoing>,
) {
    let mut failing = false;
    while let Some(outgoing) = queue.recv().await {
        let result = match &outgoing.to {
            None => pubsub.broadcast_from(&topic, outgoing.payload).await,
            Some(node) => pubsub.send_to(node, &topic, outgoing.payload).await,
        };
        match result {
            Ok(()) if failing => {
                failing = false;
                tracing::info!(topic, "replication messages flow again");
            }
            Ok(()) => {}
            Err(error) if !failing => {
                failing = true;
                tracing::warn!(topic, %error, "cannot send replication messages; local presence keeps working");
            }
            Err(error) => tracing::debug!(topic, %error, "replication message not sent"),
        }
    }
}
