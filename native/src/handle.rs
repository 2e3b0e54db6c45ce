//! Starting a node, and the handle its users hold.

use std::collections::HashMap;
use std::sync::Arc;

use beryl_core::sync::{PeerInfo, SyncEngine};
use beryl_core::{Diff, Meta, Presence as Entry, PresenceState, Ref, ReplicaId};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::actor::{Actor, Command, Link, send_loop};
use crate::clock::{Clock, new_incarnation};
use crate::config::Config;
use crate::diffs::{CallbackWorker, DiffStream};
use crate::error::{StartError, Stopped, TrackFailed, UpdateFailed};
use crate::feed::{ReplicationFeed, TopicSnapshot};
use crate::read_model::{ReadModel, ReadModelWriter, Snapshot};

/// Starts presence nodes. See [`Presence::start`].
pub struct Presence;

impl Presence {
    /// Starts a node: a private task that owns its state and replicates it over the
    /// configured PubSub. Returns once the node listens on its sync topic. Must be called
    /// inside a tokio runtime.
    ///
    /// The node runs until [`PresenceHandle::stop`] is called, or until every handle is
    /// dropped (then it ends without a goodbye, and peers time it out like a crashed node).
    pub async fn start(config: Config) -> Result<PresenceHandle, StartError> {
        config.validate()?;
        let incarnation = config.incarnation.unwrap_or_else(new_incarnation);
        let replica = ReplicaId::new(config.replica_name.as_str(), incarnation);
        let clock = Clock::start();
        let state = PresenceState::with_limits(replica.clone(), config.limits.clone());
        let engine = SyncEngine::with_state(state, config.sync.clone(), clock.now_ms())
            .map_err(|error| StartError::Config(error.into()))?;

        let link = match &config.pubsub {
            Some(pubsub) => {
                let inbound = pubsub
                    .subscribe(&config.sync_topic)
                    .await
                    .map_err(|source| StartError::Subscribe {
                        topic: config.sync_topic.clone(),
                        source,
                    })?;
                let (outbound, queue) = mpsc::channel(config.outbound_capacity);
                let sender_task =
                    tokio::spawn(send_loop(pubsub.clone(), config.sync_topic.clone(), queue));
                Some(Link {
                    inbound: Some(inbound),
                    outbound,
                    sender_task,
                })
            }
            None => None,
        };

        let callback = match &config.on_diff {
            Some(callback) => match CallbackWorker::start(callback.clone(), replica.to_string()) {
                Ok(worker) => Some(worker),
                Err(error) => {
                    tracing::error!(%error, "cannot start the on_diff thread; the callback will not run");
                    None
                }
            },
            None => None,
        };
        let read_model = Arc::new(ReadModel::default());
        let (diffs, _) = broadcast::channel(config.subscriber_capacity);
        let feed = config
            .sync
            .report_applied
            .then(|| broadcast::channel(config.subscriber_capacity).0);
        let (commands, receiver) = mpsc::channel(config.command_capacity);
        let handle = PresenceHandle {
            inner: Arc::new(Shared {
                replica: replica.clone(),
                read_model: read_model.clone(),
                diffs: diffs.downgrade(),
            }),
            commands,
        };
        let actor = Actor {
            engine,
            clock,
            commands: receiver,
            link,
            wire_limits: config.wire_limits.clone(),
            read_model: ReadModelWriter::new(read_model),
            diffs,
            callback,
            feed,
            routes: HashMap::new(),
        };
        tokio::spawn(actor.run());
        Ok(handle)
    }
}

/// A cheap, cloneable handle on a running node. Changes go through the node's task; reads
/// (`list`, `get_by_key`, ...) are served from a snapshot and never wait for it.
#[derive(Clone)]
pub struct PresenceHandle {
    inner: Arc<Shared>,
    commands: mpsc::Sender<Command>,
}

struct Shared {
    replica: ReplicaId,
    read_model: Arc<ReadModel>,
    // Weak, so that the stream of a subscriber ends when the node does.
    diffs: broadcast::WeakSender<Arc<Diff>>,
}

impl PresenceHandle {
    /// This node's replica: its name and incarnation.
    pub fn replica(&self) -> &ReplicaId {
        &self.inner.replica
    }

    async fn ask<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, Stopped> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(command(reply))
            .await
            .map_err(|_| Stopped)?;
        answer.await.map_err(|_| Stopped)
    }

    /// Tracks the connection `pid` of `key` in `topic` with `meta`. Returns the new presence's
    /// `phx_ref`. Once it returns, reads on this node include the presence.
    pub async fn track(
        &self,
        topic: impl Into<String>,
        key: impl Into<String>,
        pid: impl Into<String>,
        meta: Meta,
    ) -> Result<Ref, TrackFailed> {
        let (topic, key, pid) = (topic.into(), key.into(), pid.into());
        Ok(self
            .ask(|reply| Command::Track {
                topic,
                key,
                pid,
                meta,
                reply,
            })
            .await??)
    }

    /// Replaces the meta of a presence this node tracks: peers see the old one leave and a
    /// new one, with a new `phx_ref` and `phx_ref_prev`, join.
    pub async fn update(
        &self,
        topic: impl Into<String>,
        key: impl Into<String>,
        pid: impl Into<String>,
        meta: Meta,
    ) -> Result<Ref, UpdateFailed> {
        let (topic, key, pid) = (topic.into(), key.into(), pid.into());
        Ok(self
            .ask(|reply| Command::Update {
                topic,
                key,
                pid,
                meta,
                reply,
            })
            .await??)
    }

    /// Stops tracking a presence of this node. Returns how many presences left: 0 when this
    /// node did not track it (untracking is idempotent, and never touches other nodes'
    /// presences).
    pub async fn untrack(
        &self,
        topic: impl Into<String>,
        key: impl Into<String>,
        pid: impl Into<String>,
    ) -> Result<usize, Stopped> {
        let (topic, key, pid) = (topic.into(), key.into(), pid.into());
        self.ask(|reply| Command::Untrack {
            topic,
            key,
            pid,
            reply,
        })
        .await
    }

    /// Stops tracking every presence of `pid` on this node, in every topic (for a
    /// disconnect). Returns how many left.
    pub async fn untrack_all(&self, pid: impl Into<String>) -> Result<usize, Stopped> {
        let pid = pid.into();
        self.ask(|reply| Command::UntrackAll { pid, reply }).await
    }

    /// The presences of `topic` on every node, ordered by key, then by dot.
    pub fn list(&self, topic: &str) -> Vec<Entry> {
        self.inner.read_model.load().list(topic)
    }

    /// The presences of `key` in `topic`, ordered by dot.
    pub fn get_by_key(&self, topic: &str, key: &str) -> Vec<Entry> {
        self.inner.read_model.load().get_by_key(topic, key)
    }

    /// The topics with at least one presence.
    pub fn topics(&self) -> Vec<Arc<str>> {
        self.inner.read_model.load().topics()
    }

    /// A consistent view of every presence at this moment, for several reads that must agree.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.inner.read_model.load()
    }

    /// Every diff from now on, in order: local changes, merges that changed something, and
    /// liveness verdicts. See [`DiffStream`].
    pub fn subscribe(&self) -> DiffStream {
        DiffStream::new(self.inner.diffs.upgrade().map(|sender| sender.subscribe()))
    }

    /// The peers this node knows, with their liveness.
    pub async fn peers(&self) -> Result<Vec<PeerInfo>, Stopped> {
        self.ask(|reply| Command::Peers { reply }).await
    }

    /// Opens a [`ReplicationFeed`] (the node's state, then its changes), to keep client
    /// replicas in step. `None` unless the node was started with
    /// [`Config::replication_feed`](crate::Config::replication_feed).
    pub async fn replication_feed(&self) -> Result<Option<ReplicationFeed>, Stopped> {
        self.ask(|reply| Command::OpenFeed { reply }).await
    }

    /// What a client replica of `topic` starts from: the topic's projection of the state and
    /// the node's liveness verdicts. Apply the delta, then the verdicts, then the events of a
    /// [`ReplicationFeed`] opened before this call (projected to the topic). Costs the topic's
    /// size, not the node's. `None` unless the node was started with
    /// [`Config::replication_feed`](crate::Config::replication_feed).
    pub async fn topic_snapshot(
        &self,
        topic: impl Into<String>,
    ) -> Result<Option<TopicSnapshot>, Stopped> {
        let topic = topic.into();
        self.ask(|reply| Command::TopicSnapshot { topic, reply })
            .await
    }

    /// Stops the node gracefully: peers are told at once (a goodbye), so this node's
    /// presences leave everywhere without waiting for the down period. Later calls on any
    /// handle fail with [`Stopped`], and reads return nothing.
    pub async fn stop(&self) -> Result<(), Stopped> {
        self.ask(|reply| Command::Stop { reply }).await
    }
}

impl std::fmt::Debug for PresenceHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresenceHandle")
            .field("replica", &self.inner.replica)
            .finish_non_exhaustive()
    }
}
