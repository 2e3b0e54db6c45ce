//! The in-process PubSub: a bus shared by any number of nodes in one process.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::mpsc;

use super::{NodeId, PubSub, PubSubFuture, Received, Subscription, check_topic};

/// An in-process message bus. Each [`node`](Self::node) is one participant; a single node on
/// its own bus is the embedded default, several nodes on one bus form a cluster inside one
/// process (for tests and demos).
///
/// Each subscription has a bounded queue: when a subscriber falls that far behind, further
/// messages to it are dropped (and counted) rather than blocking the sender.
#[derive(Clone)]
pub struct LocalBus {
    inner: Arc<BusInner>,
}

struct BusInner {
    capacity: usize,
    topics: Mutex<HashMap<String, Vec<Subscriber>>>,
    dropped: AtomicU64,
}

struct Subscriber {
    node: NodeId,
    sender: mpsc::Sender<Received>,
}

/// Who receives one send.
enum Audience<'a> {
    Everyone,
    AllBut(&'a NodeId),
    Only(&'a NodeId),
}

impl Default for LocalBus {
    fn default() -> Self {
        Self::new()
    }
}

impl LocalBus {
    /// A bus whose subscriptions queue up to 1,024 messages each.
    pub fn new() -> Self {
        Self::with_capacity(1024)
    }

    /// A bus whose subscriptions queue up to `capacity` messages each (at least 1).
    pub fn with_capacity(capacity: usize) -> Self {
        LocalBus {
            inner: Arc::new(BusInner {
                capacity: capacity.max(1),
                topics: Mutex::new(HashMap::new()),
                dropped: AtomicU64::new(0),
            }),
        }
    }

    /// A participant named `id`. Ids must be unique on the bus.
    pub fn node(&self, id: impl AsRef<str>) -> LocalPubSub {
        LocalPubSub {
            bus: self.clone(),
            id: NodeId::new(id),
        }
    }

    /// How many messages were dropped because a subscriber's queue was full.
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    fn topics(&self) -> MutexGuard<'_, HashMap<String, Vec<Subscriber>>> {
        // Nothing panics while the lock is held, but a poisoned map is still a valid map.
        self.inner
            .topics
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn subscribe(&self, node: &NodeId, topic: &str) -> Subscription {
        let (sender, receiver) = mpsc::channel(self.inner.capacity);
        self.topics()
            .entry(topic.to_owned())
            .or_default()
            .push(Subscriber {
                node: node.clone(),
                sender,
            });
        Subscription::new(receiver)
    }

    fn deliver(&self, from: &NodeId, topic: &str, payload: Bytes, audience: Audience<'_>) {
        let mut topics = self.topics();
        let Some(subscribers) = topics.get_mut(topic) else {
            return;
        };
        subscribers.retain(|subscriber| !subscriber.sender.is_closed());
        for subscriber in subscribers.iter() {
            let wanted = match audience {
                Audience::Everyone => true,
                Audience::AllBut(node) => subscriber.node != *node,
                Audience::Only(node) => subscriber.node == *node,
            };
            if !wanted {
                continue;
            }
            let message = Received {
                from: from.clone(),
                payload: payload.clone(),
            };
            if subscriber.sender.try_send(message).is_err() {
                self.inner.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(
                    topic,
                    to = %subscriber.node,
                    "local bus: subscriber queue full, message dropped"
                );
            }
        }
    }
}

/// One node's handle on a [`LocalBus`].
#[derive(Clone)]
pub struct LocalPubSub {
    bus: LocalBus,
    id: NodeId,
}

impl LocalPubSub {
    /// The bus this node is on.
    pub fn bus(&self) -> &LocalBus {
        &self.bus
    }
}

impl PubSub for LocalPubSub {
    fn node_id(&self) -> &NodeId {
        &self.id
    }

    fn subscribe(&self, topic: &str) -> PubSubFuture<'_, Subscription> {
        let result = check_topic(topic).map(|()| self.bus.subscribe(&self.id, topic));
        Box::pin(async move { result })
    }

    fn broadcast(&self, topic: &str, payload: Bytes) -> PubSubFuture<'_, ()> {
        let result = check_topic(topic).map(|()| {
            self.bus
                .deliver(&self.id, topic, payload, Audience::Everyone)
        });
        Box::pin(async move { result })
    }

    fn broadcast_from(&self, topic: &str, payload: Bytes) -> PubSubFuture<'_, ()> {
        let result = check_topic(topic).map(|()| {
            self.bus
                .deliver(&self.id, topic, payload, Audience::AllBut(&self.id))
        });
        Box::pin(async move { result })
    }

    fn send_to(&self, to: &NodeId, topic: &str, payload: Bytes) -> PubSubFuture<'_, ()> {
        let result = check_topic(topic).map(|()| {
            self.bus
                .deliver(&self.id, topic, payload, Audience::Only(to))
        });
        Box::pin(async move { result })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pubsub::PubSubError;

    #[tokio::test]
    async fn broadcasts_reach_the_right_nodes() {
        let bus = LocalBus::new();
        let (a, b, c) = (bus.node("a"), bus.node("b"), bus.node("c"));
        let mut on_a = a.subscribe("t").await.unwrap();
        let mut on_b = b.subscribe("t").await.unwrap();
        let mut on_c = c.subscribe("t").await.unwrap();
        let mut other_topic = c.subscribe("u").await.unwrap();

        a.broadcast("t", Bytes::from_static(b"1")).await.unwrap();
        a.broadcast_from("t", Bytes::from_static(b"2"))
            .await
            .unwrap();
        a.send_to(&NodeId::new("c"), "t", Bytes::from_static(b"3"))
            .await
            .unwrap();

        assert_eq!(on_a.recv().await.unwrap().payload, "1");
        for (subscription, expected) in
            [(&mut on_b, &["1", "2"][..]), (&mut on_c, &["1", "2", "3"])]
        {
            for payload in expected {
                let received = subscription.recv().await.unwrap();
                assert_eq!(received.payload, *payload);
                assert_eq!(received.from, NodeId::new("a"));
            }
        }
        drop(bus);
        assert!(
            on_a.receiver.try_recv().is_err(),
            "no copy of 2 or 3 for the sender"
        );
        assert!(on_b.receiver.try_recv().is_err(), "3 was for c only");
        assert!(other_topic.receiver.try_recv().is_err());
    }

    #[tokio::test]
    async fn a_full_queue_drops_instead_of_blocking() {
        let bus = LocalBus::with_capacity(2);
        let (a, b) = (bus.node("a"), bus.node("b"));
        let mut on_b = b.subscribe("t").await.unwrap();
        for n in 0..5u8 {
            a.broadcast_from("t", Bytes::from(vec![n])).await.unwrap();
        }
        assert_eq!(bus.dropped(), 3);
        assert_eq!(on_b.recv().await.unwrap().payload, vec![0]);
        assert_eq!(on_b.recv().await.unwrap().payload, vec![1]);
    }

    #[tokio::test]
    async fn invalid_topics_are_refused() {
        let bus = LocalBus::new();
        let a = bus.node("a");
        assert!(matches!(
            a.subscribe("").await,
            Err(PubSubError::Invalid { what: "topic", .. })
        ));
        assert!(a.broadcast("x@y", Bytes::new()).await.is_err());
    }
}
