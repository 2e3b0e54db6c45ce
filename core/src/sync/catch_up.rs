//! The deltas a node recently broadcast, kept so that a peer that missed a few of them can be
//! sent just those, instead of a full repair of the node's entries.

use std::collections::VecDeque;

use crate::presence::Delta;

/// One broadcast delta: the local changes with counters in `after + 1 ..= through`, plus the
/// removals made in that interval.
#[derive(Debug)]
struct SentDelta {
    after: u64,
    through: u64,
    dots: u64,
    delta: Delta,
}

/// The recent broadcast deltas, bounded by the number of dots they carry.
#[derive(Debug)]
pub(crate) struct SentLog {
    deltas: VecDeque<SentDelta>,
    dots: u64,
    limit: u64,
    /// The highest local counter broadcast so far.
    sent_through: u64,
}

impl SentLog {
    pub(crate) fn new(limit: u64, sent_through: u64) -> Self {
        SentLog {
            deltas: VecDeque::new(),
            dots: 0,
            limit,
            sent_through,
        }
    }

    /// Records a broadcast delta that covers the local counters up to `through`; `dots` is its
    /// size. The oldest deltas are dropped to stay within the limit.
    pub(crate) fn push(&mut self, through: u64, dots: u64, delta: Delta) {
        let after = self.sent_through;
        self.sent_through = through;
        if dots > self.limit {
            // Too large to keep: a peer that missed it needs a full repair anyway.
            self.deltas.clear();
            self.dots = 0;
            return;
        }
        self.deltas.push_back(SentDelta {
            after,
            through,
            dots,
            delta,
        });
        self.dots += dots;
        while self.dots > self.limit {
            match self.deltas.pop_front() {
                Some(oldest) => self.dots -= oldest.dots,
                None => break,
            }
        }
    }

    /// Everything broadcast after the local counter `seen_through`, as one delta, if the log
    /// still reaches back that far. A peer that has seen every local dot up to `seen_through`
    /// has also applied every removal sealed by those dots, so these deltas are all it lacks
    /// (of what was broadcast).
    pub(crate) fn since(&self, seen_through: u64) -> Option<Delta> {
        if seen_through >= self.sent_through {
            return Some(Delta::default());
        }
        let oldest = self.deltas.front()?;
        if oldest.after > seen_through {
            return None;
        }
        let mut out = Delta::default();
        for sent in self
            .deltas
            .iter()
            .filter(|sent| sent.through > seen_through)
        {
            out = out.merged(sent.delta.clone());
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::Meta;
    use crate::presence::PresenceState;
    use crate::replica::ReplicaId;

    #[test]
    fn the_log_answers_only_while_it_reaches_back_far_enough() {
        let mut state = PresenceState::new(ReplicaId::new("a", 1));
        let mut log = SentLog::new(2, 0);
        for pid in ["p1", "p2", "p3"] {
            let tracked = state.track("room", pid, pid, &Meta::empty()).unwrap();
            log.push(state.local_counter(), 1, tracked.delta());
        }
        // The limit of two dots dropped the first delta.
        assert!(log.since(0).is_none());
        let catch_up = log.since(1).expect("deltas 2 and 3 are kept");
        assert_eq!(catch_up.store().len(), 2);
        assert!(log.since(3).unwrap().store().is_empty());
    }

    #[test]
    fn an_oversized_delta_empties_the_log() {
        let mut state = PresenceState::new(ReplicaId::new("a", 1));
        let mut log = SentLog::new(1, 0);
        let tracked = state.track("room", "k", "p", &Meta::empty()).unwrap();
        log.push(1, 1, tracked.delta());
        assert!(log.since(0).is_some());
        log.push(3, 2, Delta::default());
        assert!(log.since(0).is_none());
        assert!(log.since(1).is_none());
        assert!(log.since(3).unwrap().context().is_empty());
    }
}
