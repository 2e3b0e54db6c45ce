//! Diff delivery: every change reaches the callback and subscribers in order, a panicking
//! callback is contained, a slow subscriber is told it lagged, and the node's end closes the
//! streams.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use beryl_native::{Config, Diff, DiffStreamError, Meta, Presence};

/// A diff as text: "+pid" for each join, "-pid" for each leave.
fn describe(diff: &Diff) -> Vec<String> {
    diff.joins()
        .map(|p| format!("+{}", p.pid()))
        .chain(diff.leaves().map(|p| format!("-{}", p.pid())))
        .collect()
}

async fn wait_for(seen: &Mutex<Vec<Vec<String>>>, count: usize) {
    for _ in 0..500 {
        if seen.lock().unwrap().len() >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "the callback saw {} diffs, expected {count}",
        seen.lock().unwrap().len()
    );
}

#[tokio::test]
async fn the_callback_sees_every_diff_in_order_and_survives_its_own_panic() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorder = seen.clone();
    let presence = Presence::start(Config::new("a").on_diff(move |diff| {
        let described = describe(diff);
        let boom = described.iter().any(|change| change == "+boom");
        recorder.lock().unwrap().push(described);
        if boom {
            panic!("a callback bug");
        }
    }))
    .await
    .unwrap();

    let mut expected = Vec::new();
    for n in 0..100 {
        let pid = format!("p{n}");
        presence
            .track("room", "k", pid.as_str(), Meta::empty())
            .await
            .unwrap();
        expected.push(vec![format!("+{pid}")]);
        if n % 3 == 0 {
            presence.untrack("room", "k", pid.as_str()).await.unwrap();
            expected.push(vec![format!("-{pid}")]);
        }
    }
    presence
        .track("room", "k", "boom", Meta::empty())
        .await
        .unwrap();
    expected.push(vec!["+boom".to_owned()]);
    presence
        .track("room", "k", "after", Meta::empty())
        .await
        .unwrap();
    expected.push(vec!["+after".to_owned()]);

    wait_for(&seen, expected.len()).await;
    assert_eq!(
        *seen.lock().unwrap(),
        expected,
        "nothing lost, folded or reordered"
    );
    assert_eq!(presence.get_by_key("room", "k").len(), 100 - 34 + 2);
    presence.stop().await.unwrap();
}

#[tokio::test]
async fn a_slow_subscriber_is_told_it_lagged_and_does_not_hold_the_node_back() {
    let presence = Presence::start(Config::new("a").subscriber_capacity(8))
        .await
        .unwrap();
    let mut slow = presence.subscribe();
    let mut prompt = presence.subscribe();
    for n in 0..50 {
        presence
            .track("room", "k", format!("p{n}"), Meta::empty())
            .await
            .unwrap();
        // The prompt subscriber keeps up and misses nothing.
        let diff = prompt.recv().await.unwrap();
        assert_eq!(describe(&diff), vec![format!("+p{n}")]);
    }
    assert_eq!(presence.list("room").len(), 50, "the node went on");
    assert_eq!(
        slow.recv().await.unwrap_err(),
        DiffStreamError::Lagged { missed: 42 }
    );
    // Then the newest eight, in order.
    for n in 42..50 {
        assert_eq!(
            describe(&slow.recv().await.unwrap()),
            vec![format!("+p{n}")]
        );
    }
    assert!(slow.try_recv().is_none());
    presence.stop().await.unwrap();
}

#[tokio::test]
async fn dropping_the_last_handle_ends_the_node_and_its_streams() {
    let presence = Presence::start(Config::new("a")).await.unwrap();
    let other = presence.clone();
    let mut diffs = presence.subscribe();
    presence
        .track("room", "k", "p", Meta::empty())
        .await
        .unwrap();
    assert!(diffs.recv().await.is_ok());
    drop(presence);
    other
        .track("room", "k", "q", Meta::empty())
        .await
        .expect("one handle still runs the node");
    assert!(diffs.recv().await.is_ok());
    drop(other);
    let end = tokio::time::timeout(Duration::from_secs(5), diffs.recv()).await;
    assert_eq!(end.expect("the stream ends"), Err(DiffStreamError::Closed));
}

#[tokio::test]
async fn refused_changes_report_typed_errors() {
    let presence = Presence::start(Config::new("a")).await.unwrap();
    presence
        .track("room", "k", "p", Meta::empty())
        .await
        .unwrap();
    let twice = presence.track("room", "k", "p", Meta::empty()).await;
    assert!(twice.unwrap_err().to_string().contains("already tracked"));
    let unknown = presence.update("room", "k", "nope", Meta::empty()).await;
    assert!(unknown.unwrap_err().to_string().contains("not tracked"));
    assert_eq!(presence.untrack("room", "k", "nope").await, Ok(0));
    presence.stop().await.unwrap();
    assert!(presence.untrack_all("p").await.is_err());
    assert!(presence.list("room").is_empty());
}
