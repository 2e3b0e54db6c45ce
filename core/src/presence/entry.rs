//! One tracked connection: its topic, key, pid and meta, and the dot it was born with.

use std::fmt;
use std::sync::Arc;

use crate::dot::{Dot, Ref};
use crate::error::InputError;
use crate::limits::Limits;
use crate::meta::Meta;
use crate::replica::ReplicaId;

/// The stored part of a presence, without its dot: what a delta carries for each dot.
///
/// Key, pid and meta live in one shared allocation, so cloning an entry into a diff or a list is
/// a reference count, not a copy.
#[derive(Clone)]
pub struct Entry {
    pub(crate) topic: Arc<str>,
    pub(crate) replaces: u64,
    pub(crate) body: Body,
}

/// `key ++ pid ++ meta` in one allocation, with the two split points.
#[derive(Clone)]
pub(crate) struct Body {
    pub(crate) text: Arc<str>,
    pub(crate) key_len: u16,
    pub(crate) pid_len: u16,
}

impl Body {
    #[inline(always)]
    pub(crate) fn key(&self) -> &str {
        &self.text[..usize::from(self.key_len)]
    }
    #[inline(always)]
    pub(crate) fn pid(&self) -> &str {
        let start = usize::from(self.key_len);
        &self.text[start..start + usize::from(self.pid_len)]
    }
    #[inline(always)]
    pub(crate) fn meta(&self) -> &str {
        &self.text[usize::from(self.key_len) + usize::from(self.pid_len)..]
    }
}

thread_local! {
    /// Where a body is assembled before its one shared allocation is made.
    static SCRATCH: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// A scratch buffer that grew past this (for one huge meta) is released rather than kept.
const SCRATCH_KEPT: usize = 4096;

pub(crate) fn check_len(field: &'static str, value: &str, max: usize) -> Result<(), InputError> {
    let max = max.min(usize::from(u16::MAX));
    if value.len() > max {
        return Err(InputError::TooLong {
            field,
            len: value.len(),
            max,
        });
    }
    Ok(())
}

impl Entry {
    /// Builds an entry, checking topic, key, pid and meta against `limits`.
    ///
    /// `replaces` is the counter of the entry of the same replica that this one replaced in an
    /// update (its `phx_ref_prev`), or `None`.
    pub fn new(
        topic: Arc<str>,
        key: &str,
        pid: &str,
        meta: &Meta,
        replaces: Option<u64>,
        limits: &Limits,
    ) -> Result<Entry, InputError> {
        check_len("topic", &topic, limits.max_topic_bytes)?;
        check_len("key", key, limits.max_key_bytes)?;
        check_len("pid", pid, limits.max_pid_bytes)?;
        if meta.as_str().len() > limits.max_meta_bytes {
            return Err(crate::error::MetaError::TooLarge {
                len: meta.as_str().len(),
                max: limits.max_meta_bytes,
            }
            .into());
        }
        let text = SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            scratch.clear();
            scratch.push_str(key);
            scratch.push_str(pid);
            scratch.push_str(meta.as_str());
            let text = Arc::<str>::from(scratch.as_str());
            if scratch.capacity() > SCRATCH_KEPT {
                *scratch = String::new();
            }
            text
        });
        Ok(Entry {
            topic,
            replaces: replaces.unwrap_or(0),
            body: Body {
                text,
                // Both fit: check_len caps them at u16::MAX.
                key_len: key.len() as u16,
                pid_len: pid.len() as u16,
            },
        })
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The topic, shared.
    pub fn topic_shared(&self) -> &Arc<str> {
        &self.topic
    }

    /// The presence key (for example a user id).
    #[inline(always)]
    pub fn key(&self) -> &str {
        self.body.key()
    }

    /// The pid (one connection of the key, for example a socket id).
    #[inline(always)]
    pub fn pid(&self) -> &str {
        self.body.pid()
    }

    /// The meta, as the JSON text it was tracked with.
    #[inline(always)]
    pub fn meta(&self) -> &str {
        self.body.meta()
    }

    /// The counter of the entry this one replaced in an update, if any.
    pub fn replaces(&self) -> Option<u64> {
        (self.replaces != 0).then_some(self.replaces)
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.topic == other.topic
            && self.replaces == other.replaces
            && self.body.key_len == other.body.key_len
            && self.body.pid_len == other.body.pid_len
            && self.body.text == other.body.text
    }
}

impl Eq for Entry {}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("topic", &self.topic())
            .field("key", &self.key())
            .field("pid", &self.pid())
            .field("meta", &self.meta())
            .field("replaces", &self.replaces())
            .finish()
    }
}

/// A presence as readers and diffs see it: an entry with the dot that identifies it.
#[derive(Clone, PartialEq, Eq)]
pub struct Presence {
    pub(crate) dot: Dot,
    pub(crate) entry: Entry,
}

impl Presence {
    /// A presence from its dot and entry, for callers that rebuild a diff from its encoded form
    /// (the wasm bindings turn a JS diff back into one to encode it for Phoenix clients).
    pub fn new(dot: Dot, entry: Entry) -> Self {
        Presence { dot, entry }
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        self.entry.topic()
    }

    /// The presence key.
    #[inline(always)]
    pub fn key(&self) -> &str {
        self.entry.key()
    }

    /// The pid.
    #[inline(always)]
    pub fn pid(&self) -> &str {
        self.entry.pid()
    }

    /// The meta, as JSON text.
    #[inline(always)]
    pub fn meta(&self) -> &str {
        self.entry.meta()
    }

    /// The dot this presence was born with.
    pub fn dot(&self) -> &Dot {
        &self.dot
    }

    /// The replica that owns this presence: the only one that may update or remove it.
    pub fn replica(&self) -> &ReplicaId {
        &self.dot.replica
    }

    /// The `phx_ref`: unique per tracked entry, the same on every node.
    pub fn phx_ref(&self) -> Ref {
        self.dot.phx_ref()
    }

    /// For an entry created by an update, the `phx_ref` of the entry it replaced.
    pub fn phx_ref_prev(&self) -> Option<Ref> {
        self.entry
            .replaces()
            .map(|counter| Ref::from_parts(&self.dot.replica, counter))
    }

    /// The entry without its dot.
    pub fn entry(&self) -> &Entry {
        &self.entry
    }
}

impl fmt::Debug for Presence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Presence")
            .field("topic", &self.topic())
            .field("key", &self.key())
            .field("pid", &self.pid())
            .field("meta", &self.meta())
            .field("dot", &self.dot)
            .field("replaces", &self.entry.replaces())
            .finish()
    }
}
