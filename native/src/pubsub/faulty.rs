//! A PubSub wrapper that misbehaves on purpose: it drops, delays, duplicates, reorders and
//! partitions what its node receives, so tests can check that replication survives all of it.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::{NodeId, PubSub, PubSubFuture, Received, Subscription};

/// What a [`FaultyPubSub`] does to incoming messages. The default is a healthy network.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultPlan {
    /// Percent of messages lost (0 to 100).
    pub drop_percent: u8,
    /// Percent of messages delivered twice.
    pub duplicate_percent: u8,
    /// Each message is held back for a random time up to this long, which also reorders them.
    pub max_delay: Duration,
    /// Messages from these nodes are lost, as behind a network partition.
    pub partitioned_from: HashSet<NodeId>,
}

/// Wraps a [`PubSub`] and applies a [`FaultPlan`] to everything its node receives. Sends pass
/// through untouched; wrap every node to fault both directions. The plan can change at any
/// time, for example to heal a partition mid-test.
pub struct FaultyPubSub {
    inner: Arc<dyn PubSub>,
    shared: Arc<Shared>,
}

struct Shared {
    plan: Mutex<FaultPlan>,
    rng: Mutex<u64>,
}

impl Shared {
    fn plan(&self) -> MutexGuard<'_, FaultPlan> {
        self.plan
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// SplitMix64 from `seed`: reproducible faults for a given seed and message order.
    fn roll(&self, below: u64) -> u64 {
        let mut state = self
            .rng
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % below.max(1)
    }
}

impl FaultyPubSub {
    /// Wraps `inner`, healthy until [`set_plan`](Self::set_plan); `seed` drives the dice.
    pub fn new(inner: Arc<dyn PubSub>, seed: u64) -> Self {
        FaultyPubSub {
            inner,
            shared: Arc::new(Shared {
                plan: Mutex::new(FaultPlan::default()),
                rng: Mutex::new(seed),
            }),
        }
    }

    /// Replaces the fault plan.
    pub fn set_plan(&self, plan: FaultPlan) {
        *self.shared.plan() = plan;
    }

    /// Back to a healthy network.
    pub fn heal(&self) {
        self.set_plan(FaultPlan::default());
    }
}

impl PubSub for FaultyPubSub {
    fn node_id(&self) -> &NodeId {
        self.inner.node_id()
    }

    fn subscribe(&self, topic: &str) -> PubSubFuture<'_, Subscription> {
        let topic = topic.to_owned();
        Box::pin(async move {
            let mut upstream = self.inner.subscribe(&topic).await?;
            let (sender, receiver) = mpsc::channel(1024);
            let shared = self.shared.clone();
            tokio::spawn(async move {
                while let Some(message) = upstream.recv().await {
                    if sender.is_closed() {
                        break;
                    }
                    forward(&shared, &sender, message);
                }
            });
            Ok(Subscription::new(receiver))
        })
    }

    fn broadcast(&self, topic: &str, payload: Bytes) -> PubSubFuture<'_, ()> {
        self.inner.broadcast(topic, payload)
    }

    fn broadcast_from(&self, topic: &str, payload: Bytes) -> PubSubFuture<'_, ()> {
        self.inner.broadcast_from(topic, payload)
    }

    fn send_to(&self, to: &NodeId, topic: &str, payload: Bytes) -> PubSubFuture<'_, ()> {
        self.inner.send_to(to, topic, payload)
    }
}

fn forward(shared: &Shared, sender: &mpsc::Sender<Received>, message: Received) {
    let plan = shared.plan().clone();
    if plan.partitioned_from.contains(&message.from)
        || shared.roll(100) < u64::from(plan.drop_percent)
    {
        return;
    }
    let copies = if shared.roll(100) < u64::from(plan.duplicate_percent) {
        2
    } else {
        1
    };
    for _ in 0..copies {
        let max_ms = u64::try_from(plan.max_delay.as_millis()).unwrap_or(u64::MAX);
        if max_ms == 0 {
            let _ = sender.try_send(message.clone());
            continue;
        }
        let delay = Duration::from_millis(shared.roll(max_ms + 1));
        let sender = sender.clone();
        let message = message.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = sender.try_send(message);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pubsub::LocalBus;

    #[tokio::test(start_paused = true)]
    async fn partitions_and_drops_apply_to_what_the_node_receives() {
        let bus = LocalBus::new();
        let a = bus.node("a");
        let b = FaultyPubSub::new(Arc::new(bus.node("b")), 1);
        let mut on_b = b.subscribe("t").await.unwrap();

        b.set_plan(FaultPlan {
            partitioned_from: [NodeId::new("a")].into_iter().collect(),
            ..FaultPlan::default()
        });
        a.broadcast_from("t", Bytes::from_static(b"lost"))
            .await
            .unwrap();
        // Let the forwarding task see the message under the partition.
        tokio::time::sleep(Duration::from_millis(1)).await;
        b.heal();
        a.broadcast_from("t", Bytes::from_static(b"kept"))
            .await
            .unwrap();
        assert_eq!(on_b.recv().await.unwrap().payload, "kept");

        b.set_plan(FaultPlan {
            drop_percent: 100,
            ..FaultPlan::default()
        });
        a.broadcast_from("t", Bytes::from_static(b"dropped"))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(1)).await;
        b.set_plan(FaultPlan {
            duplicate_percent: 100,
            max_delay: Duration::from_millis(50),
            ..FaultPlan::default()
        });
        a.broadcast_from("t", Bytes::from_static(b"twice"))
            .await
            .unwrap();
        assert_eq!(on_b.recv().await.unwrap().payload, "twice");
        assert_eq!(on_b.recv().await.unwrap().payload, "twice");
    }
}
