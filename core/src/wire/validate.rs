//! The rules every decoded message must follow, shared by the binary and JSON decoders, so that
//! merging whatever they return is safe.

use std::sync::Arc;

use hashbrown::HashSet;

use super::error::{DecodeError, Position};
use super::limits::WireLimits;
use crate::context::DotRanges;
use crate::meta::Meta;
use crate::presence::Entry;
use crate::replica::ReplicaId;

/// The replicas a message mentions, each once, referenced by index.
#[derive(Default)]
pub(super) struct ReplicaTable {
    ids: Vec<ReplicaId>,
    /// The same replicas, for finding repeats once the table is too long to scan.
    seen: HashSet<ReplicaId>,
}

/// Up to this many replicas, a repeat is found by scanning: most messages name one or two.
const SCAN_UP_TO: usize = 8;

impl ReplicaTable {
    pub(super) fn with_capacity(capacity: usize) -> Self {
        ReplicaTable {
            ids: Vec::with_capacity(capacity),
            seen: HashSet::new(),
        }
    }

    /// Adds the next replica of the table; a replica listed twice makes references ambiguous.
    pub(super) fn push(
        &mut self,
        name: &str,
        incarnation: u64,
        limits: &WireLimits,
        at: impl Fn() -> Position,
    ) -> Result<(), DecodeError> {
        if name.len() > limits.max_replica_name_bytes {
            return Err(DecodeError::TooLong {
                field: "replica name",
                len: name.len() as u64,
                max: limits.max_replica_name_bytes,
                limit: "WireLimits::max_replica_name_bytes",
                at: at(),
            });
        }
        let id = ReplicaId::new(name, incarnation);
        let repeated = if self.ids.len() < SCAN_UP_TO {
            self.ids.contains(&id)
        } else {
            if self.seen.is_empty() {
                self.seen.extend(self.ids.iter().cloned());
            }
            !self.seen.insert(id.clone())
        };
        if repeated {
            return Err(DecodeError::Invalid {
                field: "replica table",
                reason: "a replica is listed twice",
                at: at(),
            });
        }
        self.ids.push(id);
        Ok(())
    }

    /// How many replicas the table lists.
    pub(super) fn len(&self) -> usize {
        self.ids.len()
    }

    pub(super) fn get(
        &self,
        field: &'static str,
        index: u64,
        at: impl Fn() -> Position,
    ) -> Result<&ReplicaId, DecodeError> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.ids.get(i))
            .ok_or_else(|| DecodeError::BadIndex {
                field,
                index,
                len: self.ids.len(),
                at: at(),
            })
    }
}

/// Checks a count against a limit before anything is allocated for it.
pub(super) fn check_count(
    field: &'static str,
    count: u64,
    max: usize,
    limit: &'static str,
    at: impl Fn() -> Position,
) -> Result<usize, DecodeError> {
    match usize::try_from(count) {
        Ok(n) if n <= max => Ok(n),
        _ => Err(DecodeError::TooMany {
            field,
            count,
            max,
            limit,
            at: at(),
        }),
    }
}

/// Builds one replica's dot ranges from a base and cloud ranges given in ascending order,
/// refusing anything that is not the one canonical form: cloud ranges start at least two above
/// the previous range's end (so they are disjoint, not adjacent and not foldable into the
/// base), end at or after their start, and the section is not empty.
pub(super) struct RangesBuilder {
    base: u64,
    previous_end: u64,
    cloud: Vec<(u64, u64)>,
}

impl RangesBuilder {
    pub(super) fn new(base: u64) -> Self {
        RangesBuilder {
            base,
            previous_end: base,
            cloud: Vec::new(),
        }
    }

    /// The end of the previous range (or the base): binary ranges are relative to it.
    pub(super) fn previous_end(&self) -> u64 {
        self.previous_end
    }

    pub(super) fn push(&mut self, first: u64, last: u64) -> Result<(), &'static str> {
        if first <= self.previous_end.saturating_add(1) {
            return Err("a cloud range must start at least 2 above the end of the previous range");
        }
        if last < first {
            return Err("a cloud range ends before it starts");
        }
        self.cloud.push((first, last));
        self.previous_end = last;
        Ok(())
    }

    pub(super) fn finish(self) -> Result<DotRanges, &'static str> {
        if self.base == 0 && self.cloud.is_empty() {
            return Err("a context section covers no dot");
        }
        Ok(DotRanges::from_parts(self.base, self.cloud))
    }
}

/// Builds a decoded entry, validating its meta and sizes exactly as a local `track` would.
pub(super) fn entry(
    topic: Arc<str>,
    key: &str,
    pid: &str,
    meta: &str,
    replaces: Option<u64>,
    limits: &WireLimits,
    at: impl Fn() -> Position,
) -> Result<Entry, DecodeError> {
    if replaces == Some(0) {
        return Err(DecodeError::Invalid {
            field: "replaces",
            reason: "counters start at 1",
            at: at(),
        });
    }
    let meta = Meta::from_json_within(meta, &limits.presence)
        .map_err(|source| DecodeError::Meta { at: at(), source })?;
    Entry::new(topic, key, pid, &meta, replaces, &limits.presence)
        .map_err(|source| DecodeError::Entry { at: at(), source })
}
