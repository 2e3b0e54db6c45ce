//! The situations users meet, one test each, written as a user would meet them.

use beryl_core::{
    Delta, Diff, Meta, PresenceState, ReplicaId, ReplicaStatus, TrackError, UpdateError,
};

fn replica(name: &str, incarnation: u64) -> ReplicaId {
    ReplicaId::new(name, incarnation)
}

fn meta(json: &str) -> Meta {
    Meta::from_json(json).expect("valid meta")
}

fn online() -> Meta {
    meta(r#"{"status":"online"}"#)
}

/// (key, pid, meta) of every visible presence of a topic, in list order.
fn listed(state: &PresenceState, topic: &str) -> Vec<(String, String, String)> {
    state
        .list(topic)
        .into_iter()
        .flat_map(|group| group.into_presences())
        .map(|p| (p.key().to_owned(), p.pid().to_owned(), p.meta().to_owned()))
        .collect()
}

fn joins(diff: &Diff) -> Vec<(String, String)> {
    diff.joins()
        .map(|p| (p.key().to_owned(), p.pid().to_owned()))
        .collect()
}

fn leaves(diff: &Diff) -> Vec<(String, String)> {
    diff.leaves()
        .map(|p| (p.key().to_owned(), p.pid().to_owned()))
        .collect()
}

fn pair(key: &str, pid: &str) -> (String, String) {
    (key.to_owned(), pid.to_owned())
}

#[test]
fn two_devices_of_one_key_in_one_topic_one_leaves_the_other_stays() {
    let mut a = PresenceState::new(replica("a", 1));
    let mut b = PresenceState::new(replica("b", 1));
    let phone = a.track("room:lobby", "alice", "phone", &online()).unwrap();
    let laptop = a.track("room:lobby", "alice", "laptop", &online()).unwrap();
    assert_ne!(phone.phx_ref(), laptop.phx_ref());
    b.merge(phone.delta());
    b.merge(laptop.delta());
    assert_eq!(b.get_by_key("room:lobby", "alice").len(), 2);

    let gone = a.untrack("room:lobby", "alice", "phone");
    let diff = b.merge(gone.delta);
    assert_eq!(leaves(&diff), vec![pair("alice", "phone")]);
    assert!(joins(&diff).is_empty());
    let left = b.get_by_key("room:lobby", "alice");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].pid(), "laptop");
    assert_eq!(listed(&a, "room:lobby"), listed(&b, "room:lobby"));
}

#[test]
fn update_then_replicate_then_untrack_leaves_nothing_behind_on_the_remote() {
    let mut a = PresenceState::new(replica("a", 1));
    let mut b = PresenceState::new(replica("b", 1));
    b.merge(a.track("t", "alice", "s1", &online()).unwrap().delta());
    b.merge(
        a.update("t", "alice", "s1", &meta(r#"{"status":"away"}"#))
            .unwrap()
            .delta(),
    );
    assert_eq!(
        listed(&b, "t"),
        vec![("alice".into(), "s1".into(), r#"{"status":"away"}"#.into())]
    );
    b.merge(a.untrack("t", "alice", "s1").delta);
    assert_eq!(b.len(), 0, "no stale pre-update entry may survive");
    assert_eq!(b.stored_len(), 0);
}

#[test]
fn an_update_is_one_diff_with_the_old_meta_in_leaves_and_the_new_one_in_joins() {
    let mut a = PresenceState::new(replica("a", 1));
    let mut b = PresenceState::new(replica("b", 1));
    let tracked = a.track("t", "alice", "s1", &online()).unwrap();
    b.merge(tracked.delta());
    let updated = a
        .update("t", "alice", "s1", &meta(r#"{"status":"away"}"#))
        .unwrap();
    assert_ne!(updated.phx_ref(), tracked.phx_ref());
    for diff in [updated.diff(), b.merge(updated.delta())] {
        let changes = diff.topic("t").expect("the topic changed");
        assert_eq!(changes.leaves.len(), 1);
        assert_eq!(changes.joins.len(), 1);
        assert_eq!(changes.leaves[0].meta(), r#"{"status":"online"}"#);
        assert_eq!(changes.leaves[0].phx_ref(), tracked.phx_ref());
        assert_eq!(changes.joins[0].meta(), r#"{"status":"away"}"#);
        assert_eq!(changes.joins[0].phx_ref(), updated.phx_ref());
        assert_eq!(changes.joins[0].phx_ref_prev(), Some(tracked.phx_ref()));
    }
}

#[test]
fn an_update_delta_carries_the_new_entry_alone_and_covers_the_old_one() {
    let mut a = PresenceState::new(replica("a", 1));
    let tracked = a.track("t", "alice", "s1", &online()).unwrap();
    let updated = a
        .update("t", "alice", "s1", &meta(r#"{"status":"away"}"#))
        .unwrap();
    assert_eq!(
        updated.replaced().map(|old| old.phx_ref()),
        Some(tracked.phx_ref())
    );
    let delta = updated.delta();
    let stored: Vec<(u64, String)> = delta
        .store()
        .iter()
        .map(|(_, counter, entry)| (counter, entry.meta().to_owned()))
        .collect();
    assert_eq!(stored, vec![(2, r#"{"status":"away"}"#.to_owned())]);
    let covered: Vec<u64> = delta
        .context()
        .ranges(a.replica())
        .expect("the local replica")
        .counters()
        .collect();
    assert_eq!(covered, vec![1, 2, 3], "old dot, new dot, and the seal");
    assert_eq!(delta.context().replica_count(), 1);

    // On its own, the update's delta removes the old entry: the track arriving late (after
    // the update) adds nothing back.
    let mut b = PresenceState::new(replica("b", 1));
    let diff = b.merge(delta);
    assert_eq!(joins(&diff), vec![pair("alice", "s1")]);
    assert!(b.merge(tracked.delta()).is_empty());
    assert_eq!(
        listed(&b, "t"),
        vec![("alice".into(), "s1".into(), r#"{"status":"away"}"#.into())]
    );
}

#[test]
fn a_peer_that_missed_an_untrack_or_an_update_is_repaired_by_delta_since() {
    let mut a = PresenceState::new(replica("a", 1));
    let mut b = PresenceState::new(replica("b", 1));
    for pid in ["s1", "s2", "s3"] {
        b.merge(a.track("t", "alice", pid, &online()).unwrap().delta());
    }
    // b misses all of these: a removal, a disconnect and an update whose new entry is then
    // removed again (so the only delta that reaches b would name none of the old entries).
    a.untrack("t", "alice", "s1");
    a.untrack_all("s2");
    a.update("t", "alice", "s3", &meta(r#"{"status":"away"}"#))
        .unwrap();
    let late = a.untrack("t", "alice", "s3").delta;
    b.merge(late);
    assert_eq!(b.len(), 3, "every old entry is a ghost on b for now");

    let repair = a.delta_since(b.context(), Some(b.replica()));
    let diff = b.merge(repair);
    assert_eq!(
        leaves(&diff),
        vec![
            pair("alice", "s1"),
            pair("alice", "s2"),
            pair("alice", "s3")
        ]
    );
    assert_eq!(b.len(), 0);
    assert_eq!(
        b.context().ranges(a.replica()),
        a.context().ranges(a.replica())
    );
}

#[test]
fn a_merge_reports_its_leaves_in_dot_order() {
    // Enough entries to spread over many pages of the dot index: the leaves must not follow
    // the order of its hash map.
    let mut a = PresenceState::new(replica("a", 1));
    let mut b = PresenceState::new(replica("b", 1));
    for i in 0..1_000 {
        a.track("t", &format!("user:{i}"), "conn", &online())
            .unwrap();
    }
    b.merge(a.full_state(None));
    a.untrack_all("conn");
    // A full state whose context covers more dots than b holds: b walks what it holds.
    let diff = b.merge(a.full_state(None));
    let counters: Vec<u64> = diff.leaves().map(|p| p.dot().counter).collect();
    assert_eq!(counters, (1..=1_000).collect::<Vec<u64>>());
}

#[test]
fn a_restart_with_the_same_name_shows_the_new_entries_and_never_the_old_ones() {
    let mut old_a = PresenceState::new(replica("a", 1));
    let mut b = PresenceState::new(replica("b", 1));
    b.merge(old_a.track("t", "alice", "s1", &online()).unwrap().delta());
    b.merge(b_full_for(&old_a, &b));
    let b_before_restart = b.full_state(None);
    assert_eq!(
        b_before_restart.store().len(),
        1,
        "b's state holds a's old entry"
    );

    // "a" restarts: same name, new incarnation, counters start again at 1.
    let mut new_a = PresenceState::new(replica("a", 2));
    let fresh = new_a.track("t", "bob", "s9", &online()).unwrap();
    let diff = b.merge(fresh.delta());
    assert_eq!(
        joins(&diff),
        vec![pair("bob", "s9")],
        "the new dot 1 is not mistaken for the old one"
    );
    assert_eq!(
        leaves(&diff),
        vec![pair("alice", "s1")],
        "the old incarnation's entries leave"
    );
    assert_eq!(listed(&b, "t").len(), 1);

    // The restarted node merges b's state from before the restart, which holds the old
    // incarnation's entry: it is this process's own name, so nothing of it is taken.
    let from_b = new_a.merge(b_before_restart);
    assert!(from_b.is_empty(), "{from_b:?}");
    assert_eq!(new_a.stored_len(), 1);
    // Even a peer that still holds the old entries cannot bring them back.
    let stale = old_a.full_state(None);
    assert!(new_a.merge(stale.clone()).is_empty());
    assert!(b.merge(stale).is_empty());
    assert_eq!(
        listed(&new_a, "t"),
        vec![("bob".into(), "s9".into(), r#"{"status":"online"}"#.into())]
    );
    assert_eq!(listed(&b, "t"), listed(&new_a, "t"));
}

fn b_full_for(from: &PresenceState, to: &PresenceState) -> Delta {
    from.full_state(Some(to.replica()))
}

#[test]
fn a_late_delta_from_an_old_incarnation_does_not_hide_the_new_one() {
    let mut old_a = PresenceState::new(replica("a", 1));
    let mut new_a = PresenceState::new(replica("a", 2));
    let mut b = PresenceState::new(replica("b", 1));
    let late_track = old_a.track("t", "alice", "s1", &online()).unwrap().delta();
    let late_untrack = old_a.untrack("t", "alice", "s1").delta;
    b.merge(new_a.track("t", "alice", "s2", &online()).unwrap().delta());
    assert!(b.merge(late_track).is_empty());
    assert!(b.merge(late_untrack).is_empty());
    assert_eq!(
        listed(&b, "t"),
        vec![("alice".into(), "s2".into(), r#"{"status":"online"}"#.into())]
    );
    assert_eq!(b.replica_status(&replica("a", 2)), Some(ReplicaStatus::Up));
}

#[test]
fn a_permanent_removal_survives_gossip_from_a_replica_that_still_holds_the_entries() {
    let mut a = PresenceState::new(replica("a", 1));
    let mut b = PresenceState::new(replica("b", 1));
    let mut c = PresenceState::new(replica("c", 1));
    let delta = a.track("t", "alice", "s1", &online()).unwrap().delta();
    b.merge(delta.clone());
    c.merge(delta);

    let diff = b.remove_replica(a.replica()).unwrap();
    assert_eq!(leaves(&diff), vec![pair("alice", "s1")]);
    // c never removed a, and gossips its full state to b.
    assert!(b.merge(c.full_state(Some(b.replica()))).is_empty());
    assert!(b.merge(a.full_state(None)).is_empty());
    assert_eq!(b.len(), 0);
    assert_eq!(
        b.replica_up(a.replica()).unwrap(),
        Diff::new(),
        "removal is final for this incarnation"
    );
    // b does not pass a's entries on, nor its verdict.
    let mut d = PresenceState::new(replica("d", 1));
    d.merge(b.full_state(Some(d.replica())));
    assert_eq!(d.len(), 0);
    d.merge(c.full_state(Some(d.replica())));
    assert_eq!(
        d.len(),
        1,
        "d may still learn a's entries from c, which sees a up"
    );
}

#[test]
fn down_then_up_gives_leaves_then_joins_and_a_second_down_reports_nothing() {
    let mut a = PresenceState::new(replica("a", 1));
    let mut b = PresenceState::new(replica("b", 1));
    b.merge(a.track("t", "alice", "s1", &online()).unwrap().delta());
    let down = b.replica_down(a.replica()).unwrap();
    assert_eq!(leaves(&down), vec![pair("alice", "s1")]);
    assert!(joins(&down).is_empty());
    assert_eq!(b.len(), 0);
    assert!(b.replica_down(a.replica()).unwrap().is_empty());

    // While down, merges are applied but report no joins that list would hide.
    let hidden = b.merge(a.track("t", "bob", "s2", &online()).unwrap().delta());
    assert!(hidden.is_empty());
    assert!(listed(&b, "t").is_empty());
    assert_eq!(b.stored_len(), 2);
    assert!(
        b.digest().ranges(a.replica()).is_none(),
        "digests leave out down replicas"
    );

    let up = b.replica_up(a.replica()).unwrap();
    let mut shown = joins(&up);
    shown.sort();
    assert_eq!(shown, vec![pair("alice", "s1"), pair("bob", "s2")]);
    assert_eq!(b.len(), 2);
}

#[test]
fn two_replicas_with_sixty_presences_each_that_never_met_converge_to_the_union() {
    let mut a = PresenceState::new(replica("a", 1));
    let mut b = PresenceState::new(replica("b", 1));
    for i in 0..60 {
        a.track(
            "room:lobby",
            &format!("a-user:{i}"),
            &format!("a{i}"),
            &online(),
        )
        .unwrap();
        b.track(
            "room:lobby",
            &format!("b-user:{i}"),
            &format!("b{i}"),
            &online(),
        )
        .unwrap();
    }
    let for_b = a.full_state(Some(b.replica()));
    let for_a = b.full_state(Some(a.replica()));
    assert_eq!(b.merge(for_b).joins().count(), 60);
    assert_eq!(a.merge(for_a).joins().count(), 60);
    assert_eq!(a.len(), 120);
    assert_eq!(b.len(), 120);
    assert_eq!(listed(&a, "room:lobby"), listed(&b, "room:lobby"));
}

#[test]
fn a_user_moving_from_replica_a_to_replica_b_ends_with_exactly_b_entry_everywhere() {
    let mut a = PresenceState::new(replica("a", 1));
    let mut b = PresenceState::new(replica("b", 1));
    let mut c = PresenceState::new(replica("c", 1));
    let on_a = a
        .track("t", "alice", "socket-1", &online())
        .unwrap()
        .delta();
    b.merge(on_a.clone());
    c.merge(on_a);
    // The socket reconnects to b before a noticed the disconnect.
    let on_b = b
        .track("t", "alice", "socket-2", &online())
        .unwrap()
        .delta();
    let off_a = a.untrack_all("socket-1").delta;
    c.merge(on_b.clone());
    a.merge(on_b);
    b.merge(off_a.clone());
    c.merge(off_a);
    for state in [&a, &b, &c] {
        let presences = state.get_by_key("t", "alice");
        assert_eq!(presences.len(), 1);
        assert_eq!(presences[0].pid(), "socket-2");
        assert_eq!(presences[0].replica(), b.replica());
    }
}

#[test]
fn untracking_an_unknown_entry_and_merging_a_seen_delta_are_no_ops() {
    let mut a = PresenceState::new(replica("a", 1));
    let mut b = PresenceState::new(replica("b", 1));
    let change = a.untrack("t", "nobody", "nothing");
    assert!(change.diff.is_empty());
    assert!(change.delta.store().is_empty() && change.delta.context().is_empty());
    assert!(a.untrack_all("nothing").diff.is_empty());

    let delta = a.track("t", "alice", "s1", &online()).unwrap().delta();
    assert_eq!(joins(&b.merge(delta.clone())), vec![pair("alice", "s1")]);
    assert!(b.merge(delta.clone()).is_empty());
    let removal = a.untrack("t", "alice", "s1").delta;
    assert_eq!(leaves(&b.merge(removal.clone())), vec![pair("alice", "s1")]);
    assert!(b.merge(removal).is_empty());
    assert!(
        b.merge(delta).is_empty(),
        "a re-delivered add after its removal stays removed"
    );
    assert_eq!(b.len(), 0);
}

#[test]
fn tracking_the_same_triple_twice_is_refused_but_every_other_combination_is_fine() {
    let mut a = PresenceState::new(replica("a", 1));
    a.track("t", "alice", "s1", &online()).unwrap();
    assert!(matches!(
        a.track("t", "alice", "s1", &online()),
        Err(TrackError::AlreadyTracked { .. })
    ));
    a.track("t", "bob", "s1", &online()).unwrap();
    a.track("u", "alice", "s1", &online()).unwrap();
    assert_eq!(a.len(), 3);
    assert!(!a.untrack("t", "alice", "s1").diff.is_empty());
    assert!(!a.untrack("t", "bob", "s1").diff.is_empty());
    assert!(!a.untrack("u", "alice", "s1").diff.is_empty());
    assert!(a.is_empty());
    assert!(a.topics().is_empty());
}

#[test]
fn only_the_owner_removes_its_entries() {
    let mut a = PresenceState::new(replica("a", 1));
    let mut b = PresenceState::new(replica("b", 1));
    b.merge(
        a.track("t", "alice", "same-pid", &online())
            .unwrap()
            .delta(),
    );
    // The same pid string on b is b's own business: b cannot remove a's entry.
    assert!(b.untrack("t", "alice", "same-pid").diff.is_empty());
    assert!(b.untrack_all("same-pid").diff.is_empty());
    assert!(matches!(
        b.update("t", "alice", "same-pid", &online()),
        Err(UpdateError::NotTracked { .. })
    ));
    assert_eq!(b.len(), 1);
    // A delta claiming to come from b's own name cannot remove b's entries either.
    b.track("t", "bob", "p", &online()).unwrap();
    let impostor = PresenceState::new(replica("b", 99));
    assert!(b.merge(impostor.full_state(None)).is_empty());
    assert_eq!(b.len(), 2);
}

#[test]
fn liveness_bookkeeping_does_not_grow_with_restarts() {
    let mut b = PresenceState::new(replica("b", 1));
    b.track("t", "bob", "s0", &online()).unwrap();
    for incarnation in 1..=1_000 {
        let mut a = PresenceState::new(replica("a", incarnation));
        b.merge(a.track("t", "alice", "s1", &online()).unwrap().delta());
        if incarnation % 3 == 0 {
            b.replica_down(a.replica()).unwrap();
        }
    }
    assert_eq!(b.replicas().len(), 2, "b itself and a's newest incarnation");
    assert_eq!(b.context().replica_count(), 2);
    assert_eq!(b.stored_len(), 2);
}

#[test]
fn a_replica_cannot_declare_itself_down() {
    let mut a = PresenceState::new(replica("a", 1));
    let me = a.replica().clone();
    assert!(a.replica_down(&me).is_err());
    assert!(a.remove_replica(&me).is_err());
}

#[test]
fn a_forgotten_replica_leaves_no_record_and_only_removed_ones_can_be_forgotten() {
    let mut local = PresenceState::new(ReplicaId::new("local", 1));
    let gone = ReplicaId::new("gone", 1);
    let mut remote = PresenceState::new(gone.clone());
    local.merge(
        remote
            .track("room", "k", "p", &Meta::empty())
            .expect("track")
            .delta(),
    );
    assert!(
        !local.forget_replica(&gone),
        "an up replica is not forgotten"
    );
    local.remove_replica(&gone).expect("a remote replica");
    assert!(local.forget_replica(&gone));
    assert_eq!(local.replicas().len(), 1);
    assert!(local.context().ranges(&gone).is_none());
    assert!(!local.forget_replica(&gone), "nothing left to forget");
}

#[test]
fn a_down_verdict_that_comes_before_the_entries_keeps_them_hidden() {
    // A client replica fed by a server may hear the verdict first.
    let mut client = PresenceState::new(ReplicaId::new("client", 1));
    let mut node = PresenceState::new(ReplicaId::new("node", 1));
    let tracked = node.track("room", "k", "p", &Meta::empty()).expect("track");
    assert!(
        client
            .replica_down(node.replica())
            .expect("remote")
            .is_empty()
    );
    assert!(
        client.merge(tracked.delta()).is_empty(),
        "no join for a hidden entry"
    );
    assert!(client.list("room").is_empty());
    assert_eq!(
        client
            .replica_up(node.replica())
            .expect("remote")
            .joins()
            .count(),
        1
    );

    // A verdict about a newer incarnation supersedes the one known.
    let restarted = ReplicaId::new("node", 2);
    let diff = client.replica_down(&restarted).expect("remote");
    assert_eq!(
        diff.leaves().count(),
        1,
        "the old incarnation's entry leaves"
    );
    assert_eq!(client.replica_status(&restarted), Some(ReplicaStatus::Down));
    assert_eq!(client.stored_len(), 0);
}
