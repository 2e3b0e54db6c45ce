//! Helpers shared by the native integration tests.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::time::Duration;

use beryl_native::{Config, Meta, PresenceHandle};

/// Short periods, so that tests run many intervals quickly.
pub const INTERVAL: Duration = Duration::from_millis(50);
/// The down period of [`fast_config`].
pub const DOWN_PERIOD: Duration = Duration::from_millis(500);

pub fn fast_config(name: &str) -> Config {
    Config::new(name)
        .broadcast_interval(INTERVAL)
        .down_period(DOWN_PERIOD)
        .permanent_down_period(INTERVAL * 200)
        .repair_backoff(INTERVAL * 2)
}

/// A visible presence, as comparable data.
pub type Seen = (String, String, String, String, String);

/// Everything a node shows, in all topics.
pub fn visible(handle: &PresenceHandle) -> BTreeSet<Seen> {
    let snapshot = handle.snapshot();
    snapshot
        .topics()
        .iter()
        .flat_map(|topic| snapshot.list(topic))
        .map(|p| {
            (
                p.topic().to_owned(),
                p.key().to_owned(),
                p.pid().to_owned(),
                p.meta().to_owned(),
                p.phx_ref().to_string(),
            )
        })
        .collect()
}

/// What a node owns.
pub fn own(handle: &PresenceHandle) -> BTreeSet<Seen> {
    let snapshot = handle.snapshot();
    snapshot
        .topics()
        .iter()
        .flat_map(|topic| snapshot.list(topic))
        .filter(|p| p.replica() == handle.replica())
        .map(|p| {
            (
                p.topic().to_owned(),
                p.key().to_owned(),
                p.pid().to_owned(),
                p.meta().to_owned(),
                p.phx_ref().to_string(),
            )
        })
        .collect()
}

/// Whether every node shows exactly the union of what the nodes own.
pub fn converged(nodes: &[&PresenceHandle]) -> bool {
    let expected: BTreeSet<Seen> = nodes.iter().flat_map(|node| own(node)).collect();
    nodes.iter().all(|node| visible(node) == expected)
}

/// Waits interval by interval until the nodes converge; returns how many intervals it took.
pub async fn intervals_to_converge(nodes: &[&PresenceHandle], max: u32) -> Option<u32> {
    for interval in 0..=max {
        if converged(nodes) {
            return Some(interval);
        }
        tokio::time::sleep(INTERVAL).await;
    }
    None
}

/// SplitMix64, for reproducible random operations.
pub struct Rng(pub u64);

impl Rng {
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n.max(1)
    }
}

/// One random track, update, untrack or untrack_all on `node`.
pub async fn random_op(node: &PresenceHandle, rng: &mut Rng) {
    let mine: Vec<Seen> = own(node).into_iter().collect();
    let choice = rng.below(10);
    if mine.is_empty() || choice < 5 {
        let topic = format!("room-{}", rng.below(3));
        let key = format!("user-{}", rng.below(6));
        let pid = format!("pid-{}", rng.below(12));
        let meta = Meta::from_json(&format!("{{\"n\":{}}}", rng.below(1000))).unwrap();
        // Refused when already tracked here: fine.
        let _ = node.track(topic, key, pid, meta).await;
        return;
    }
    let (topic, key, pid, _, _) = mine[rng.below(mine.len() as u64) as usize].clone();
    match choice {
        5..=6 => {
            let meta = Meta::from_json(&format!("{{\"n\":{}}}", rng.below(1000))).unwrap();
            node.update(topic, key, pid, meta).await.expect("update");
        }
        7..=8 => {
            assert_eq!(node.untrack(topic, key, pid).await.unwrap(), 1);
        }
        _ => {
            assert!(node.untrack_all(pid).await.unwrap() >= 1);
        }
    }
}

/// A description of how the nodes differ.
pub fn divergence(nodes: &[&PresenceHandle]) -> String {
    let expected: BTreeSet<Seen> = nodes.iter().flat_map(|node| own(node)).collect();
    let mut out = String::new();
    for node in nodes {
        let seen = visible(node);
        let lost: Vec<_> = expected.difference(&seen).collect();
        let ghosts: Vec<_> = seen.difference(&expected).collect();
        if !lost.is_empty() || !ghosts.is_empty() {
            out.push_str(&format!(
                "{}: lost {lost:?} ghosts {ghosts:?}\n",
                node.replica()
            ));
        }
    }
    out
}
