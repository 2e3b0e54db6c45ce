//! The endpoint over this crate's presence node: [`PresenceService`] for [`PresenceHandle`].
//!
//! Ordering: the node publishes its read model after every batch of events, before it handles
//! the next command. A joining socket subscribes to the hub, then tracks (a command), then
//! reads; any event the dispatcher handled before the subscription was emitted before the
//! track was handled, so the read that follows the track reflects it.

use beryl_core::wire::phoenix;
use beryl_core::{Meta, ReplicaId, TopicDiff};
use tokio::sync::mpsc;

use super::error::ServiceError;
use super::service::{PresenceService, ServiceEvent, SyncSnapshot};
use crate::diffs::DiffStreamError;
use crate::error::{TrackFailed, UpdateFailed};
use crate::feed::FeedEvent;
use crate::handle::PresenceHandle;

/// How many events wait for the endpoint's dispatcher before the forwarders stop reading.
const EVENT_QUEUE: usize = 1024;

impl From<crate::error::Stopped> for ServiceError {
    fn from(_: crate::error::Stopped) -> Self {
        ServiceError::Stopped
    }
}

/// The `presence_state` payload of a key-ordered listing. The diff encoder groups a topic's
/// joins by key exactly as `presence_state` does, so the payload is its `joins` object.
pub(crate) fn presence_state_payload(listing: Vec<beryl_core::Presence>) -> String {
    const PREFIX: &str = "{\"joins\":";
    const SUFFIX: &str = ",\"leaves\":{}}";
    let diff = phoenix::encode_topic_diff(&TopicDiff {
        joins: listing,
        leaves: Vec::new(),
    });
    diff.strip_prefix(PREFIX)
        .and_then(|rest| rest.strip_suffix(SUFFIX))
        .map_or_else(|| String::from("{}"), str::to_owned)
}

impl PresenceService for PresenceHandle {
    fn replica(&self) -> ReplicaId {
        PresenceHandle::replica(self).clone()
    }

    async fn track(
        &self,
        topic: &str,
        key: &str,
        pid: &str,
        meta: Meta,
    ) -> Result<(), ServiceError> {
        match PresenceHandle::track(self, topic, key, pid, meta).await {
            Ok(_) => Ok(()),
            Err(TrackFailed::Refused(error)) => Err(ServiceError::Refused(error.to_string())),
            Err(TrackFailed::Stopped(_)) => Err(ServiceError::Stopped),
        }
    }

    async fn update(
        &self,
        topic: &str,
        key: &str,
        pid: &str,
        meta: Meta,
    ) -> Result<(), ServiceError> {
        match PresenceHandle::update(self, topic, key, pid, meta).await {
            Ok(_) => Ok(()),
            Err(UpdateFailed::Refused(error)) => Err(ServiceError::Refused(error.to_string())),
            Err(UpdateFailed::Stopped(_)) => Err(ServiceError::Stopped),
        }
    }

    async fn untrack(&self, topic: &str, key: &str, pid: &str) -> Result<(), ServiceError> {
        PresenceHandle::untrack(self, topic, key, pid).await?;
        Ok(())
    }

    async fn untrack_all(&self, pid: &str) -> Result<(), ServiceError> {
        PresenceHandle::untrack_all(self, pid).await?;
        Ok(())
    }

    async fn presence_state(&self, topic: &str) -> Result<String, ServiceError> {
        Ok(presence_state_payload(self.list(topic)))
    }

    async fn sync_snapshot(&self, topic: &str) -> Result<SyncSnapshot, ServiceError> {
        let Some(snapshot) = self.topic_snapshot(topic).await? else {
            return Err(ServiceError::Refused(
                "this server does not offer the CRDT sync option (its node was started without \
                 Config::replication_feed(true)); join without \"sync\""
                    .to_owned(),
            ));
        };
        Ok(SyncSnapshot {
            delta: snapshot.delta,
            verdicts: snapshot.verdicts,
        })
    }

    async fn subscribe(&self) -> Result<mpsc::Receiver<ServiceEvent>, ServiceError> {
        let (sender, receiver) = mpsc::channel(EVENT_QUEUE);
        let mut diffs = PresenceHandle::subscribe(self);
        let diff_sender = sender.clone();
        // The forwarders wait while the queue is full and stop reading the node's streams;
        // those are bounded too (Config::subscriber_capacity), so a reader that stays behind
        // makes them overflow and gets Lagged, instead of memory growing.
        tokio::spawn(async move {
            loop {
                let event = match diffs.recv().await {
                    Ok(diff) => ServiceEvent::Diff(diff),
                    Err(DiffStreamError::Lagged { .. }) => ServiceEvent::Lagged,
                    Err(DiffStreamError::Closed) => break,
                };
                if diff_sender.send(event).await.is_err() {
                    break;
                }
            }
        });
        if let Some(mut feed) = self.replication_feed().await? {
            tokio::spawn(async move {
                loop {
                    let event = match feed.recv().await {
                        Ok(FeedEvent::Applied(delta)) => ServiceEvent::Applied(delta),
                        Ok(FeedEvent::Liveness { replica, status }) => {
                            ServiceEvent::Liveness { replica, status }
                        }
                        Err(DiffStreamError::Lagged { .. }) => ServiceEvent::Lagged,
                        Err(DiffStreamError::Closed) => break,
                    };
                    if sender.send(event).await.is_err() {
                        break;
                    }
                }
            });
        }
        Ok(receiver)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{Config, Presence};
    use beryl_core::PresenceState;

    #[tokio::test]
    async fn a_reader_that_falls_behind_gets_lagged_and_the_queue_stays_bounded() {
        const STREAM_CAPACITY: usize = 16;
        let node = Presence::start(
            Config::new("node")
                .subscriber_capacity(STREAM_CAPACITY)
                .replication_feed(true),
        )
        .await
        .unwrap();
        let mut events = PresenceService::subscribe(&node).await.unwrap();
        // Each track makes a diff and an applied delta: far more than both queues hold.
        let tracks = EVENT_QUEUE + 200;
        for n in 0..tracks {
            node.track("room", format!("k{n}"), format!("p{n}"), Meta::empty())
                .await
                .unwrap();
        }
        let (mut received, mut lagged) = (0, 0);
        while let Ok(Some(event)) =
            tokio::time::timeout(Duration::from_millis(200), events.recv()).await
        {
            received += 1;
            if matches!(event, ServiceEvent::Lagged) {
                lagged += 1;
            }
        }
        assert!(lagged >= 1, "the gap is signalled");
        // What waited: the queue, each stream's buffer, and the event each forwarder held.
        assert!(
            received <= EVENT_QUEUE + 2 * (STREAM_CAPACITY + 2),
            "{received} events of {} were buffered",
            2 * tracks
        );
        node.stop().await.unwrap();
    }

    #[test]
    fn the_state_payload_of_a_listing_is_the_presence_state_payload() {
        let mut state = PresenceState::new(ReplicaId::new("node", 1));
        for (key, pid, meta) in [
            ("zed", "p1", r#"{"a":1}"#),
            ("ada", "p2", "{}"),
            ("ada", "p3", r#"{"b":[1, 2.50]}"#),
        ] {
            state
                .track("room", key, pid, &Meta::from_json(meta).unwrap())
                .unwrap();
        }
        state
            .update("room", "zed", "p1", &Meta::from_json(r#"{"a":2}"#).unwrap())
            .unwrap();
        let listing: Vec<beryl_core::Presence> = state
            .list("room")
            .into_iter()
            .flat_map(|group| group.into_presences())
            .collect();
        assert_eq!(
            presence_state_payload(listing),
            phoenix::presence_state(&state, "room")
        );
        assert_eq!(presence_state_payload(Vec::new()), "{}");
    }
}
