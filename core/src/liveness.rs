//! Replica liveness: hiding a silent replica, showing it again, purging it for good.
//!
//! These are pure functions of the state: the caller (a failure detector driven by time, or an
//! operator) decides when a replica is down; the state only applies the verdict. Verdicts are
//! local: they never travel inside deltas, so one node's mistaken failure detector cannot erase
//! a live replica elsewhere.

use crate::diff::{Diff, DiffBuilder};
use crate::error::LivenessError;
use crate::presence::PresenceState;
use crate::replica::ReplicaId;

/// What this state believes about a replica.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReplicaStatus {
    /// Its entries are visible.
    Up,
    /// Silent for too long: its entries are kept but hidden, and shown again if it returns.
    Down,
    /// Gone for good: its entries are purged and its dots stay covered, so gossip from a lagging
    /// third replica cannot bring them back. Only a newer incarnation of its name is accepted.
    Removed,
}

/// The one record kept per replica name: the newest incarnation known and its status.
#[derive(Clone, Debug)]
pub(crate) struct NameRecord {
    pub(crate) current: ReplicaId,
    pub(crate) status: ReplicaStatus,
}

impl PresenceState {
    fn refuse_local(&self, replica: &ReplicaId) -> Result<(), LivenessError> {
        if replica.same_name(self.replica()) {
            return Err(LivenessError::LocalReplica {
                replica: replica.to_string(),
            });
        }
        Ok(())
    }

    /// Marks `replica` down: its entries stay stored but are hidden, and the diff has a leave for
    /// each. A replica that is already down, superseded or removed gives an empty diff.
    ///
    /// A verdict may come before the entries it hides (a client replica fed by a server): an
    /// unknown replica is recorded as down, so its entries stay hidden when they arrive; a newer
    /// incarnation than the one known supersedes it, whose entries leave.
    pub fn replica_down(&mut self, replica: &ReplicaId) -> Result<Diff, LivenessError> {
        self.set_status(replica, crate::liveness::ReplicaStatus::Down)
    }

    /// Marks `replica` up again: its entries are shown, and the diff has a join for each. A
    /// replica that is up, unknown, superseded or permanently removed gives an empty diff; a newer
    /// incarnation than the one known supersedes it.
    pub fn replica_up(&mut self, replica: &ReplicaId) -> Result<Diff, LivenessError> {
        self.set_status(replica, ReplicaStatus::Up)
    }

    fn set_status(
        &mut self,
        replica: &ReplicaId,
        status: ReplicaStatus,
    ) -> Result<Diff, LivenessError> {
        self.refuse_local(replica)?;
        let mut diff = Diff::new();
        let known = self
            .record(replica.name())
            .map(|record| record.current.incarnation());
        match known {
            None if status == ReplicaStatus::Down => {
                self.supersede(replica, status, &mut diff);
                return Ok(diff);
            }
            None => return Ok(diff),
            Some(incarnation) if replica.incarnation() > incarnation => {
                self.supersede(replica, status, &mut diff);
                return Ok(diff);
            }
            Some(_) => {}
        }
        let Some(record) = self.record_mut(replica.name()) else {
            return Ok(diff);
        };
        if record.current != *replica
            || record.status == status
            || record.status == ReplicaStatus::Removed
        {
            return Ok(diff);
        }
        record.status = status;
        let store = self.store_mut();
        let mut changes =
            DiffBuilder::extend(diff, store.count_of_replica(replica), store.topic_numbers());
        store.set_visible(replica, status == ReplicaStatus::Up, &mut changes);
        diff = changes.finish();
        Ok(diff)
    }

    /// Removes `replica` for good: its entries are purged (with leaves if they were visible) and
    /// later messages from this incarnation are ignored. Applies to a replica up or down, and to
    /// one never heard of (its messages will be ignored when they come). An older incarnation
    /// than the one known gives an empty diff.
    pub fn remove_replica(&mut self, replica: &ReplicaId) -> Result<Diff, LivenessError> {
        self.refuse_local(replica)?;
        let mut diff = Diff::new();
        let known = self
            .record(replica.name())
            .map(|record| (record.current.clone(), record.status));
        match known {
            Some((current, _)) if replica.incarnation() < current.incarnation() => {}
            Some((current, status)) if current == *replica => {
                if status != ReplicaStatus::Removed {
                    let store = self.store_mut();
                    if status == ReplicaStatus::Up {
                        let mut leaves = DiffBuilder::extend(
                            std::mem::take(&mut diff),
                            store.count_of_replica(replica),
                            store.topic_numbers(),
                        );
                        store.purge_replica(replica, Some(&mut leaves));
                        diff = leaves.finish();
                    } else {
                        store.purge_replica(replica, None);
                    }
                    if let Some(record) = self.record_mut(replica.name()) {
                        record.status = ReplicaStatus::Removed;
                    }
                }
            }
            _ => self.supersede(replica, ReplicaStatus::Removed, &mut diff),
        }
        Ok(diff)
    }

    /// Forgets a permanently removed replica: its record and the dots of it this state has
    /// seen. Returns whether there was something to forget (`replica` must be the removed,
    /// newest incarnation of its name).
    ///
    /// Removal keeps that record so that the replica's late messages, and gossip of its entries
    /// by third replicas, are recognised and ignored. Forget it only once none can arrive any
    /// more: afterwards this state would take them as news. The sync engine, which takes from
    /// each peer only the peer's own entries, forgets removed peers after
    /// [`SyncConfig::forget_removed_after_ms`](crate::sync::SyncConfig::forget_removed_after_ms).
    pub fn forget_replica(&mut self, replica: &ReplicaId) -> bool {
        let removed = self.record(replica.name()).is_some_and(|record| {
            record.current == *replica && record.status == ReplicaStatus::Removed
        });
        if removed {
            self.forget_record(replica);
        }
        removed
    }

    /// What this state believes about `replica`: `None` if it is unknown or not the newest
    /// incarnation of its name.
    pub fn replica_status(&self, replica: &ReplicaId) -> Option<ReplicaStatus> {
        if replica == self.replica() {
            return Some(ReplicaStatus::Up);
        }
        self.record(replica.name())
            .filter(|record| record.current == *replica)
            .map(|record| record.status)
    }

    /// Every replica known (one per name: its newest incarnation), with its status.
    pub fn replicas(&self) -> Vec<(ReplicaId, ReplicaStatus)> {
        let mut out: Vec<_> = self
            .records()
            .map(|record| (record.current.clone(), record.status))
            .collect();
        crate::sort::sort_unstable_by(&mut out, |a, b| a.0.cmp(&b.0));
        out
    }
}
