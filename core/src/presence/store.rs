//! The presence state's dot store: entries in a slab, with indexes by dot (per replica), by topic,
//! by (topic, key) and, for the local replica, by pid. Every index is a hash table of `u32` slot
//! numbers, a paged array, or a list threaded through the slots, so each costs a few bytes per
//! entry and every lookup or unlink is O(1) or O(size of its group).
//!
//! A topic's list keeps the entries of one key next to each other (a new entry of a known key is
//! linked right after the key's first one), so the (topic, key) index only needs the first entry
//! of each run, and a key's entries are read by walking the run.

use std::cell::Cell;
use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::{DefaultHashBuilder, HashMap, HashTable, hash_table};

use super::dot_index::DotIndex;
use super::entry::{Body, Entry, Presence};
use crate::aworset::DotStore;
use crate::diff::DiffBuilder;
use crate::dot::Dot;
use crate::replica::ReplicaId;

const NIL: u32 = u32::MAX;
const CHUNK_BITS: u32 = 10;
const CHUNK: usize = 1 << CHUNK_BITS;

struct Slot {
    text: Arc<str>,
    counter: u64,
    replica: u32,
    topic: u32,
    topic_prev: u32,
    topic_next: u32,
    pid_next: u32,
    key_len: u16,
    pid_len: u16,
}

impl Slot {
    /// Whether the key is `key`; the lengths, kept in the slot, are compared before the text.
    #[inline(always)]
    fn has_key(&self, key: &str) -> bool {
        usize::from(self.key_len) == key.len() && self.key() == key
    }
    #[inline(always)]
    fn has_pid(&self, pid: &str) -> bool {
        usize::from(self.pid_len) == pid.len() && self.pid() == pid
    }
    #[inline(always)]
    fn key(&self) -> &str {
        &self.text[..usize::from(self.key_len)]
    }
    #[inline(always)]
    fn pid(&self) -> &str {
        let start = usize::from(self.key_len);
        &self.text[start..start + usize::from(self.pid_len)]
    }
}

/// Fixed-size chunks, so growing never copies the slots already stored and never leaves half of
/// a doubled vector unused.
#[derive(Default)]
struct Slab {
    chunks: Vec<Vec<Option<Slot>>>,
    free: Vec<u32>,
}

impl Slab {
    #[inline(always)]
    fn get(&self, index: u32) -> &Slot {
        self.chunks[(index >> CHUNK_BITS) as usize][index as usize & (CHUNK - 1)]
            .as_ref()
            .expect("index of a live slot")
    }

    fn get_mut(&mut self, index: u32) -> &mut Slot {
        self.chunks[(index >> CHUNK_BITS) as usize][index as usize & (CHUNK - 1)]
            .as_mut()
            .expect("index of a live slot")
    }

    /// The number the next [`alloc`](Self::alloc) will return.
    fn next_index(&self) -> u32 {
        if let Some(&index) = self.free.last() {
            return index;
        }
        match self.chunks.last() {
            Some(chunk) if chunk.len() < CHUNK => {
                (((self.chunks.len() - 1) << CHUNK_BITS) + chunk.len()) as u32
            }
            _ => (self.chunks.len() << CHUNK_BITS) as u32,
        }
    }

    /// Stores `slot` under [`next_index`](Self::next_index), which it returns.
    fn alloc(&mut self, slot: Slot) -> u32 {
        let index = self.next_index();
        if self.free.pop().is_none() {
            if index as usize & (CHUNK - 1) == 0 {
                self.chunks.push(Vec::with_capacity(CHUNK));
            }
            self.chunks
                .last_mut()
                .expect("a chunk with room")
                .push(None);
        }
        self.chunks[(index >> CHUNK_BITS) as usize][index as usize & (CHUNK - 1)] = Some(slot);
        index
    }

    fn release(&mut self, index: u32) -> Slot {
        let slot = self.chunks[(index >> CHUNK_BITS) as usize][index as usize & (CHUNK - 1)]
            .take()
            .expect("index of a live slot");
        self.free.push(index);
        slot
    }
}

struct TopicRecord {
    name: Arc<str>,
    head: u32,
    tail: u32,
    len: u32,
    visible: u32,
}

struct ReplicaRecord {
    id: ReplicaId,
    dots: DotIndex,
    visible: bool,
}

/// The indexed dot store of a [`PresenceState`](super::PresenceState).
pub(crate) struct IndexedStore {
    hasher: DefaultHashBuilder,
    slab: Slab,
    topics: Vec<Option<TopicRecord>>,
    topic_free: Vec<u32>,
    topic_index: HashTable<u32>,
    /// The first slot of each (topic, key) run.
    keys: HashTable<u32>,
    /// The first slot of each local pid's list.
    pids: HashTable<u32>,
    /// For entries created by an update: the counter of the entry they replaced. Few entries
    /// have one, so it lives here rather than in every slot.
    replaces: HashMap<u32, u64>,
    replicas: Vec<Option<ReplicaRecord>>,
    replica_free: Vec<u32>,
    replica_index: HashMap<ReplicaId, u32>,
    visible_len: usize,
    /// The topic found last: a local change looks its topic up, then stores an entry of it.
    last_topic: Cell<u32>,
}

/// The local replica is always the first record.
const LOCAL: u32 = 0;

fn key_hash(hasher: &DefaultHashBuilder, topic: u32, key: &str) -> u64 {
    hasher.hash_one((topic, key))
}

/// Moves a full table of slot numbers to one twice its size. The table's own growth would
/// rehash its slots in bucket order, reading slots and their texts all over memory; visiting them
/// in slot order reads both mostly forwards, as they were allocated.
fn grow_in_slab_order(table: &mut HashTable<u32>, slab: &Slab, hash: impl Fn(&Slot) -> u64) {
    // A bitmap of the slots in the table puts them in order for a bit per slot of the slab.
    let mut present = vec![0u64; (slab.chunks.len() * CHUNK).div_ceil(64)];
    for &index in table.iter() {
        present[index as usize / 64] |= 1 << (index % 64);
    }
    let mut grown = HashTable::with_capacity((2 * table.len()).max(8));
    for (word_index, mut word) in present.into_iter().enumerate() {
        while word != 0 {
            let index = (word_index * 64) as u32 + word.trailing_zeros();
            word &= word - 1;
            grown.insert_unique(hash(slab.get(index)), index, |&other| hash(slab.get(other)));
        }
    }
    *table = grown;
}

/// Whether `stored` is the very text of `name`: true for the shared topic names that entries
/// and deltas carry, without reading the text.
fn same_text(stored: &Arc<str>, name: &str) -> bool {
    std::ptr::eq(stored.as_ptr(), name.as_ptr()) && stored.len() == name.len()
}

/// A (topic, key) looked up once for a local change, then used both to find the local entry and
/// to store the new one, so that neither string is hashed twice.
pub(crate) struct Probe {
    /// The topic's number, or `NIL` if it is not stored.
    topic: u32,
    topic_hash: u64,
    /// Valid when the topic is stored.
    key_hash: u64,
    /// The first slot of the (topic, key) run, or `NIL`.
    run_head: u32,
}

impl IndexedStore {
    pub(crate) fn new(local: ReplicaId) -> Self {
        let mut store = IndexedStore {
            hasher: DefaultHashBuilder::default(),
            slab: Slab::default(),
            topics: Vec::new(),
            topic_free: Vec::new(),
            topic_index: HashTable::new(),
            keys: HashTable::new(),
            pids: HashTable::new(),
            replaces: HashMap::new(),
            replicas: Vec::new(),
            replica_free: Vec::new(),
            replica_index: HashMap::new(),
            visible_len: 0,
            last_topic: Cell::new(NIL),
        };
        let local_index = store.replica_record(&local);
        debug_assert_eq!(local_index, LOCAL);
        store
    }

    fn replica_record(&mut self, id: &ReplicaId) -> u32 {
        if let Some(&index) = self.replica_index.get(id) {
            return index;
        }
        let record = ReplicaRecord {
            id: id.clone(),
            dots: DotIndex::default(),
            visible: true,
        };
        let index = match self.replica_free.pop() {
            Some(index) => {
                self.replicas[index as usize] = Some(record);
                index
            }
            None => {
                self.replicas.push(Some(record));
                (self.replicas.len() - 1) as u32
            }
        };
        self.replica_index.insert(id.clone(), index);
        index
    }

    #[inline(always)]
    fn replica(&self, index: u32) -> &ReplicaRecord {
        self.replicas[index as usize]
            .as_ref()
            .expect("index of a live replica")
    }

    fn topic(&self, index: u32) -> &TopicRecord {
        self.topics[index as usize]
            .as_ref()
            .expect("index of a live topic")
    }

    fn topic_mut(&mut self, index: u32) -> &mut TopicRecord {
        self.topics[index as usize]
            .as_mut()
            .expect("index of a live topic")
    }

    fn find_topic(&self, name: &str) -> Option<u32> {
        let last = self.last_topic.get();
        if let Some(Some(record)) = self.topics.get(last as usize) {
            if same_text(&record.name, name) {
                return Some(last);
            }
        }
        self.find_topic_hashed(name, self.hasher.hash_one(name))
    }

    fn find_topic_hashed(&self, name: &str, hash: u64) -> Option<u32> {
        let topics = &self.topics;
        let found = self
            .topic_index
            .find(hash, |&index| {
                topics[index as usize]
                    .as_ref()
                    .is_some_and(|record| same_text(&record.name, name) || &*record.name == name)
            })
            .copied();
        if let Some(index) = found {
            self.last_topic.set(index);
        }
        found
    }

    fn topic_record(&mut self, name: &Arc<str>) -> u32 {
        if let Some(index) = self.find_topic(name) {
            return index;
        }
        self.new_topic(name, self.hasher.hash_one(&**name))
    }

    /// Stores a topic known to be absent, whose name hashes to `hash`.
    fn new_topic(&mut self, name: &Arc<str>, hash: u64) -> u32 {
        let record = TopicRecord {
            name: name.clone(),
            head: NIL,
            tail: NIL,
            len: 0,
            visible: 0,
        };
        let index = match self.topic_free.pop() {
            Some(index) => {
                self.topics[index as usize] = Some(record);
                index
            }
            None => {
                self.topics.push(Some(record));
                (self.topics.len() - 1) as u32
            }
        };
        let (hasher, topics) = (&self.hasher, &self.topics);
        self.topic_index.insert_unique(hash, index, |&i| {
            hasher.hash_one(&*topics[i as usize].as_ref().expect("live topic").name)
        });
        self.last_topic.set(index);
        index
    }

    fn find_slot(&self, replica: u32, counter: u64) -> Option<u32> {
        self.replica(replica).dots.get(counter)
    }

    fn replaces_of(&self, index: u32) -> u64 {
        if self.replaces.is_empty() {
            return 0;
        }
        self.replaces.get(&index).copied().unwrap_or(0)
    }

    /// Whether `index` is the slot of (`topic`, `key`).
    fn holds_key(&self, index: u32, topic: u32, key: &str) -> bool {
        let slot = self.slab.get(index);
        slot.topic == topic && slot.key() == key
    }

    fn presence_of(&self, index: u32) -> Presence {
        let slot = self.slab.get(index);
        self.presence_with(index, &self.replica(slot.replica).id)
    }

    /// The presence in slot `index`, whose replica is `id`.
    fn presence_with(&self, index: u32, id: &ReplicaId) -> Presence {
        let slot = self.slab.get(index);
        Presence::new(
            Dot::new(id.clone(), slot.counter),
            Entry {
                topic: self.topic(slot.topic).name.clone(),
                replaces: self.replaces_of(index),
                body: Body {
                    text: slot.text.clone(),
                    key_len: slot.key_len,
                    pid_len: slot.pid_len,
                },
            },
        )
    }

    fn insert(&mut self, dot: &Dot, entry: Entry) -> u32 {
        let replica = self.replica_record(&dot.replica);
        let Entry {
            topic,
            replaces,
            body,
        } = entry;
        self.insert_into(replica, dot.counter, (&topic, body, replaces), None)
    }

    /// Stores `entry` under (`replica`, `counter`), which must not be stored yet. `probe`, when
    /// given, is the lookup of the entry's topic and key made since the last change.
    fn insert_into(
        &mut self,
        replica: u32,
        counter: u64,
        (topic_name, body, replaces): (&Arc<str>, Body, u64),
        probe: Option<&Probe>,
    ) -> u32 {
        let (topic, known_key) = match probe {
            Some(probe) if probe.topic != NIL => (probe.topic, Some(probe)),
            Some(probe) => (self.new_topic(topic_name, probe.topic_hash), None),
            None => (self.topic_record(topic_name), None),
        };
        // The slot's number is known before it is stored: the indexes and the neighbours in the
        // topic list are updated first, then the slot is written once, complete.
        let index = self.slab.next_index();
        let hasher = &self.hasher;
        let slab = &self.slab;
        let (key, pid) = (body.key(), body.pid());

        let (hash, found) = match known_key {
            Some(probe) => (probe.key_hash, probe.run_head),
            None => {
                let hash = key_hash(hasher, topic, key);
                let found = self
                    .keys
                    .find(hash, |&head| {
                        let other = slab.get(head);
                        other.topic == topic && other.has_key(key)
                    })
                    .copied()
                    .unwrap_or(NIL);
                (hash, found)
            }
        };
        let run_head = if found == NIL {
            if self.keys.len() == self.keys.capacity() {
                grow_in_slab_order(&mut self.keys, slab, |slot| {
                    key_hash(hasher, slot.topic, slot.key())
                });
            }
            self.keys.insert_unique(hash, index, |&head| {
                let other = slab.get(head);
                key_hash(hasher, other.topic, other.key())
            });
            NIL
        } else {
            found
        };
        let pid_next = if replica == LOCAL {
            // Grown ahead (even if the pid turns out to be known), so that the one probe below
            // both finds a known pid and places a new one.
            if self.pids.len() == self.pids.capacity() {
                grow_in_slab_order(&mut self.pids, slab, |slot| hasher.hash_one(slot.pid()));
            }
            let pid_hash = |&head: &u32| hasher.hash_one(slab.get(head).pid());
            match self.pids.entry(
                hasher.hash_one(pid),
                |&head| slab.get(head).has_pid(pid),
                pid_hash,
            ) {
                hash_table::Entry::Occupied(mut head) => std::mem::replace(head.get_mut(), index),
                hash_table::Entry::Vacant(place) => {
                    place.insert(index);
                    NIL
                }
            }
        } else {
            NIL
        };
        let record = self.replicas[replica as usize]
            .as_mut()
            .expect("live replica");
        record.dots.insert(counter, index);
        let visible = record.visible;
        if visible {
            self.visible_len += 1;
        }

        // Link into the topic list: right after the key's run head, or at the tail.
        let topic_record = self.topics[topic as usize].as_mut().expect("live topic");
        topic_record.len += 1;
        if visible {
            topic_record.visible += 1;
        }
        let (topic_prev, topic_next) = if run_head == NIL {
            let tail = topic_record.tail;
            topic_record.tail = index;
            if tail == NIL {
                topic_record.head = index;
            }
            (tail, NIL)
        } else {
            let next = self.slab.get(run_head).topic_next;
            if next == NIL {
                topic_record.tail = index;
            }
            (run_head, next)
        };
        if topic_prev != NIL {
            self.slab.get_mut(topic_prev).topic_next = index;
        }
        if topic_next != NIL {
            self.slab.get_mut(topic_next).topic_prev = index;
        }
        self.slab.alloc(Slot {
            text: body.text,
            counter,
            replica,
            topic,
            topic_prev,
            topic_next,
            pid_next,
            key_len: body.key_len,
            pid_len: body.pid_len,
        });
        if replaces != 0 {
            self.replaces.insert(index, replaces);
        }
        index
    }

    /// Looks `topic` and `key` up for a local change.
    pub(crate) fn probe(&self, topic: &str, key: &str) -> Probe {
        let topic_hash = self.hasher.hash_one(topic);
        let Some(topic) = self.find_topic_hashed(topic, topic_hash) else {
            return Probe {
                topic: NIL,
                topic_hash,
                key_hash: 0,
                run_head: NIL,
            };
        };
        let hash = key_hash(&self.hasher, topic, key);
        let slab = &self.slab;
        let run_head = self
            .keys
            .find(hash, |&head| {
                let other = slab.get(head);
                other.topic == topic && other.has_key(key)
            })
            .copied()
            .unwrap_or(NIL);
        Probe {
            topic,
            topic_hash,
            key_hash: hash,
            run_head,
        }
    }

    /// The shared name of the probed topic, if it is stored.
    pub(crate) fn probed_topic(&self, probe: &Probe) -> Option<Arc<str>> {
        (probe.topic != NIL).then(|| self.topic(probe.topic).name.clone())
    }

    /// The counter of the local entry of the probed (topic, key) with `pid`, if tracked.
    pub(crate) fn probed_local(&self, probe: &Probe, key: &str, pid: &str) -> Option<u64> {
        let mut cursor = probe.run_head;
        while cursor != NIL {
            let slot = self.slab.get(cursor);
            if slot.replica == LOCAL && slot.has_pid(pid) {
                return Some(slot.counter);
            }
            let next = slot.topic_next;
            cursor = if next != NIL && self.holds_key(next, probe.topic, key) {
                next
            } else {
                NIL
            };
        }
        None
    }

    /// Stores a new local entry under `counter`; `probe` must be the lookup of its topic and
    /// key, made since the last change to this store.
    pub(crate) fn insert_local(&mut self, probe: &Probe, counter: u64, entry: &Entry) {
        // Only the text is shared with the store: the topic is the probed one.
        let parts = (&entry.topic, entry.body.clone(), entry.replaces);
        self.insert_into(LOCAL, counter, parts, Some(probe));
    }

    /// Removes the entry in slot `index`; returns its topic's number (which may now be free)
    /// and the presence, which takes over the slot's text. `unindex` false leaves the replica's
    /// dot index alone, for a caller that drops the whole index afterwards.
    fn remove_slot(&mut self, index: u32, unindex: bool) -> (u32, Presence) {
        let hasher = &self.hasher;
        let slab = &self.slab;
        let slot = slab.get(index);
        let (replica, topic, counter) = (slot.replica, slot.topic, slot.counter);
        let (topic_prev, topic_next, pid_next) = (slot.topic_prev, slot.topic_next, slot.pid_next);
        let key = slot.key();

        // The (topic, key) index points at the run's first slot: hand it to the next one.
        if let Ok(head) = self
            .keys
            .find_entry(key_hash(hasher, topic, key), |&head| head == index)
        {
            let successor_in_run = topic_next != NIL && {
                let next = slab.get(topic_next);
                next.topic == topic && next.key() == key
            };
            if successor_in_run {
                *head.into_mut() = topic_next;
            } else {
                head.remove();
            }
        }
        // The pid list, for local entries.
        let mut pid_predecessor = NIL;
        if replica == LOCAL {
            let pid = slot.pid();
            if let Ok(head) = self
                .pids
                .find_entry(hasher.hash_one(pid), |&head| slab.get(head).has_pid(pid))
            {
                if *head.get() == index {
                    if pid_next == NIL {
                        head.remove();
                    } else {
                        *head.into_mut() = pid_next;
                    }
                } else {
                    let mut cursor = *head.get();
                    while slab.get(cursor).pid_next != index {
                        cursor = slab.get(cursor).pid_next;
                    }
                    pid_predecessor = cursor;
                }
            }
        }
        if pid_predecessor != NIL {
            self.slab.get_mut(pid_predecessor).pid_next = pid_next;
        }
        let record = self.replicas[replica as usize]
            .as_mut()
            .expect("live replica");
        if unindex {
            record.dots.remove(counter);
        }
        let visible = record.visible;
        let id = record.id.clone();
        let replaces = if self.replaces.is_empty() {
            0
        } else {
            self.replaces.remove(&index).unwrap_or(0)
        };

        // The topic list.
        if topic_prev != NIL {
            self.slab.get_mut(topic_prev).topic_next = topic_next;
        }
        if topic_next != NIL {
            self.slab.get_mut(topic_next).topic_prev = topic_prev;
        }
        if visible {
            self.visible_len -= 1;
        }
        let topic_record = self.topic_mut(topic);
        if topic_record.head == index {
            topic_record.head = topic_next;
        }
        if topic_record.tail == index {
            topic_record.tail = topic_prev;
        }
        topic_record.len -= 1;
        if visible {
            topic_record.visible -= 1;
        }
        let name = if topic_record.len == 0 {
            self.drop_topic(topic)
        } else {
            topic_record.name.clone()
        };
        let slot = self.slab.release(index);
        let presence = Presence::new(
            Dot::new(id, counter),
            Entry {
                topic: name,
                replaces,
                body: Body {
                    text: slot.text,
                    key_len: slot.key_len,
                    pid_len: slot.pid_len,
                },
            },
        );
        (topic, presence)
    }

    /// Forgets an empty topic; returns its name.
    fn drop_topic(&mut self, topic: u32) -> Arc<str> {
        let record = self.topics[topic as usize].take().expect("live topic");
        if let Ok(found) = self
            .topic_index
            .find_entry(self.hasher.hash_one(&*record.name), |&i| i == topic)
        {
            found.remove();
        }
        self.topic_free.push(topic);
        record.name
    }

    /// The visible presences of a topic grouped by key, keys in order, each key's presences
    /// ordered by dot. A key's entries are one run of the topic's list, so the runs are sorted
    /// rather than the presences, and each group is allocated at its size.
    pub(crate) fn list_by_key(&self, topic: &str) -> Vec<Vec<Presence>> {
        let Some(topic) = self.find_topic(topic) else {
            return Vec::new();
        };
        let record = self.topic(topic);
        // (key, first slot, slots in the run, visible ones)
        let mut runs: Vec<(&str, u32, u32, u32)> = Vec::new();
        let mut cursor = record.head;
        while cursor != NIL {
            let slot = self.slab.get(cursor);
            let visible = u32::from(self.replica(slot.replica).visible);
            match runs.last_mut() {
                Some(run) if slot.has_key(run.0) => {
                    run.2 += 1;
                    run.3 += visible;
                }
                _ => runs.push((slot.key(), cursor, 1, visible)),
            }
            cursor = slot.topic_next;
        }
        runs.retain(|run| run.3 > 0);
        // Reads sort with the standard sort, also in wasm: see `crate::sort`.
        runs.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut out: Vec<Vec<Presence>> = Vec::with_capacity(runs.len());
        let mut previous = None;
        for (key, first, len, visible) in runs {
            let mut cursor = first;
            let same_key = previous == Some(key);
            if !same_key {
                out.push(Vec::with_capacity(visible as usize));
            }
            let group = out.last_mut().expect("a group");
            for _ in 0..len {
                let slot = self.slab.get(cursor);
                if self.replica(slot.replica).visible {
                    group.push(self.presence_of(cursor));
                }
                cursor = slot.topic_next;
            }
            if group.len() > 1 {
                group.sort_unstable_by(|a, b| a.dot.cmp(&b.dot));
            }
            previous = Some(key);
        }
        out
    }

    /// Makes room for `additional` entries of remote replicas at once, rather than growing
    /// the indexes step by step while a large state is merged.
    pub(crate) fn reserve_remote(&mut self, additional: usize) {
        let (hasher, slab) = (&self.hasher, &self.slab);
        self.keys.reserve(additional, |&head| {
            let other = slab.get(head);
            key_hash(hasher, other.topic, other.key())
        });
    }

    /// The first slot of the (topic, key) run.
    fn run_head(&self, topic: &str, key: &str) -> Option<(u32, u32)> {
        let topic = self.find_topic(topic)?;
        let slab = &self.slab;
        let &head = self
            .keys
            .find(key_hash(&self.hasher, topic, key), |&head| {
                let other = slab.get(head);
                other.topic == topic && other.has_key(key)
            })?;
        Some((topic, head))
    }

    /// Every slot of the (topic, key) run.
    fn run<'a>(&'a self, topic: &str, key: &'a str) -> impl Iterator<Item = u32> + 'a {
        let (topic, head) = self.run_head(topic, key).unwrap_or((NIL, NIL));
        let mut cursor = head;
        std::iter::from_fn(move || {
            if cursor == NIL {
                return None;
            }
            let current = cursor;
            let next = self.slab.get(current).topic_next;
            cursor = if next != NIL && self.holds_key(next, topic, key) {
                next
            } else {
                NIL
            };
            Some(current)
        })
    }

    /// The visible presences of one key in a topic.
    pub(crate) fn by_key(&self, topic: &str, key: &str) -> Vec<Presence> {
        self.run(topic, key)
            .filter(|&index| self.replica(self.slab.get(index).replica).visible)
            .map(|index| self.presence_of(index))
            .collect()
    }

    /// The counter of the local entry for (topic, key, pid), if tracked.
    pub(crate) fn find_local(&self, topic: &str, key: &str, pid: &str) -> Option<u64> {
        self.run(topic, key)
            .map(|index| self.slab.get(index))
            .find(|slot| slot.replica == LOCAL && slot.has_pid(pid))
            .map(|slot| slot.counter)
    }

    /// The counters of every local entry of `pid`.
    pub(crate) fn local_counters_of_pid(&self, pid: &str) -> Vec<u64> {
        let slab = &self.slab;
        let Some(&head) = self.pids.find(self.hasher.hash_one(pid), |&head| {
            slab.get(head).has_pid(pid)
        }) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut cursor = head;
        while cursor != NIL {
            let slot = slab.get(cursor);
            out.push(slot.counter);
            cursor = slot.pid_next;
        }
        out
    }

    /// The presence stored under `dot`.
    pub(crate) fn get(&self, dot: &Dot) -> Option<Presence> {
        let &replica = self.replica_index.get(&dot.replica)?;
        let index = self.find_slot(replica, dot.counter)?;
        Some(self.presence_of(index))
    }

    /// Shows or hides every entry of `replica` (registering it if it is new, so that entries
    /// arriving later get the same visibility); records each presence whose visibility changed
    /// in `changed`, as a join or a leave, by ascending counter.
    pub(crate) fn set_visible(
        &mut self,
        replica: &ReplicaId,
        visible: bool,
        changed: &mut DiffBuilder,
    ) {
        let index = self.replica_record(replica);
        let record = self.replicas[index as usize]
            .as_mut()
            .expect("live replica");
        if record.visible == visible {
            return;
        }
        record.visible = visible;
        let slots = record.dots.slots_by_counter();
        let id = record.id.clone();
        for &slot in &slots {
            let topic = self.slab.get(slot).topic;
            let topic_record = self.topics[topic as usize].as_mut().expect("live topic");
            if visible {
                topic_record.visible += 1;
            } else {
                topic_record.visible -= 1;
            }
            let presence = self.presence_with(slot, &id);
            if visible {
                changed.push_join(topic, presence);
            } else {
                changed.push_leave(topic, presence);
            }
        }
        if visible {
            self.visible_len += slots.len();
        } else {
            self.visible_len -= slots.len();
        }
    }

    /// The shared name of a stored topic, so new entries do not allocate it again.
    pub(crate) fn shared_topic(&self, name: &str) -> Option<Arc<str>> {
        self.find_topic(name)
            .map(|index| self.topic(index).name.clone())
    }

    /// Removes every entry of `replica` and forgets it; records the removed presences, by
    /// ascending counter, as leaves in `removed` if given.
    pub(crate) fn purge_replica(&mut self, replica: &ReplicaId, removed: Option<&mut DiffBuilder>) {
        let Some(&index) = self.replica_index.get(replica) else {
            return;
        };
        if index == LOCAL {
            return;
        }
        let slots = self.replica(index).dots.slots_by_counter();
        match removed {
            Some(removed) => {
                for slot in slots {
                    let (topic, presence) = self.remove_slot(slot, false);
                    removed.push_leave(topic, presence);
                }
            }
            None => {
                for slot in slots {
                    self.remove_slot(slot, false);
                }
            }
        }
        self.replicas[index as usize] = None;
        self.replica_free.push(index);
        self.replica_index.remove(replica);
    }

    /// How many topic numbers are in use or free: the bound of the numbers a [`DiffBuilder`]
    /// sees.
    pub(crate) fn topic_numbers(&self) -> usize {
        self.topics.len()
    }

    /// How many entries of `replica` are stored.
    pub(crate) fn count_of_replica(&self, replica: &ReplicaId) -> usize {
        self.replica_index
            .get(replica)
            .map_or(0, |&index| self.replica(index).dots.len())
    }

    /// The number of `replica`'s record, if it has one.
    pub(crate) fn find_replica(&self, replica: &ReplicaId) -> Option<u32> {
        self.replica_index.get(replica).copied()
    }

    /// The number of `replica`'s record, created if it has none.
    pub(crate) fn replica_number(&mut self, replica: &ReplicaId) -> u32 {
        self.replica_record(replica)
    }

    /// How many entries the replica numbered `replica` has stored.
    pub(crate) fn held(&self, replica: u32) -> usize {
        self.replica(replica).dots.len()
    }

    /// Whether the replica numbered `replica` has an entry under `counter`.
    pub(crate) fn holds(&self, replica: u32, counter: u64) -> bool {
        self.find_slot(replica, counter).is_some()
    }

    /// The counters of the stored entries of the replica numbered `replica`, ascending.
    pub(crate) fn counters_at(&self, replica: u32) -> Vec<u64> {
        self.replica(replica).dots.counters()
    }

    /// Stores `entry` under (`replica`, `counter`), which must not be stored yet; returns the
    /// stored presence's topic number and, if `report`, the presence.
    pub(crate) fn insert_at(
        &mut self,
        replica: u32,
        counter: u64,
        entry: Entry,
        report: bool,
    ) -> Option<(u32, Presence)> {
        let Entry {
            topic,
            replaces,
            body,
        } = entry;
        let index = self.insert_into(replica, counter, (&topic, body, replaces), None);
        if !report {
            return None;
        }
        let id = self.replica(replica).id.clone();
        Some((self.slab.get(index).topic, self.presence_with(index, &id)))
    }

    /// Removes the entry (`replica`, `counter`); returns its topic number and the presence.
    pub(crate) fn remove_at(&mut self, replica: u32, counter: u64) -> Option<(u32, Presence)> {
        let index = self.find_slot(replica, counter)?;
        Some(self.remove_slot(index, true))
    }

    /// Visible presences in all topics.
    pub(crate) fn visible_len(&self) -> usize {
        self.visible_len
    }

    /// Visible presences in one topic.
    pub(crate) fn topic_len(&self, topic: &str) -> usize {
        self.find_topic(topic)
            .map_or(0, |index| self.topic(index).visible as usize)
    }

    /// Topics with at least one visible presence.
    pub(crate) fn topics(&self) -> Vec<Arc<str>> {
        self.topics
            .iter()
            .flatten()
            .filter(|record| record.visible > 0)
            .map(|record| record.name.clone())
            .collect()
    }

    /// Stored entries of all replicas, visible or not.
    pub(crate) fn stored_len(&self) -> usize {
        self.replicas
            .iter()
            .flatten()
            .map(|record| record.dots.len())
            .sum()
    }
}

impl DotStore for IndexedStore {
    type Element = Entry;

    fn contains_dot(&self, dot: &Dot) -> bool {
        self.replica_index
            .get(&dot.replica)
            .is_some_and(|&replica| self.find_slot(replica, dot.counter).is_some())
    }

    fn insert_dot(&mut self, dot: Dot, element: Entry) {
        self.insert(&dot, element);
    }

    fn remove_dot(&mut self, dot: &Dot) -> Option<Entry> {
        let &replica = self.replica_index.get(&dot.replica)?;
        let index = self.find_slot(replica, dot.counter)?;
        Some(self.remove_slot(index, true).1.entry)
    }

    fn count_of(&self, replica: &ReplicaId) -> usize {
        self.replica_index
            .get(replica)
            .map_or(0, |&index| self.replica(index).dots.len())
    }

    fn counters_of(&self, replica: &ReplicaId) -> Vec<u64> {
        let Some(&index) = self.replica_index.get(replica) else {
            return Vec::new();
        };
        self.replica(index).dots.counters()
    }
}

#[cfg(test)]
mod tests {
    use crate::meta::Meta;
    use crate::presence::{Delta, PresenceState};
    use crate::replica::ReplicaId;

    #[test]
    fn a_bulk_merge_keeps_a_freed_topic_number_apart_from_its_new_topic() {
        let mut source = PresenceState::new(ReplicaId::new("source", 1));
        let mut peer = PresenceState::new(ReplicaId::new("peer", 1));
        let pids: Vec<String> = (0..300).map(|i| format!("p{i}")).collect();
        for pid in &pids {
            source.track("old", pid, pid, &Meta::empty()).unwrap();
        }
        peer.merge(source.full_state(None));
        assert_eq!(peer.topic_len("old"), 300);

        // One delta empties "old" (freeing its number) and fills "new", which reuses it.
        let mut delta = Delta::new();
        for pid in &pids {
            delta = delta.merged(source.untrack("old", pid, pid).delta);
        }
        for pid in &pids {
            let tracked = source.track("new", pid, pid, &Meta::empty()).unwrap();
            delta = delta.merged(tracked.delta());
        }
        let diff = peer.merge(delta);

        let old = diff.topic("old").expect("leaves of old");
        assert_eq!((old.joins.len(), old.leaves.len()), (0, 300));
        assert!(old.leaves.iter().all(|p| p.topic() == "old"));
        let new = diff.topic("new").expect("joins of new");
        assert_eq!((new.joins.len(), new.leaves.len()), (300, 0));
        assert!(new.joins.iter().all(|p| p.topic() == "new"));
        assert_eq!(peer.topic_len("old"), 0);
        assert_eq!(peer.topic_len("new"), 300);
    }

    fn listing(state: &PresenceState) -> Vec<(String, Vec<String>)> {
        state
            .list("room")
            .into_iter()
            .map(|group| {
                let refs = group.presences().iter().map(|p| p.phx_ref().to_string());
                (group.key().to_owned(), refs.collect())
            })
            .collect()
    }

    #[test]
    fn a_listing_groups_keys_in_order_and_orders_each_key_by_dot() {
        let remote = ReplicaId::new("a-remote", 1);
        let mut other = PresenceState::new(remote.clone());
        let mut state = PresenceState::new(ReplicaId::new("local", 1));
        for (i, key) in ["carol", "alice", "bob", "alice", "carol"]
            .iter()
            .enumerate()
        {
            let pid = format!("p{i}");
            state.track("room", key, &pid, &Meta::empty()).unwrap();
            state.merge(
                other
                    .track("room", key, &pid, &Meta::empty())
                    .unwrap()
                    .delta(),
            );
        }
        state.untrack("room", "carol", "p0");
        let mut expected: Vec<(String, Vec<(crate::dot::Dot, String)>)> = Vec::new();
        for key in ["alice", "bob", "carol"] {
            let mut presences: Vec<_> = state
                .get_by_key("room", key)
                .iter()
                .map(|p| (p.dot().clone(), p.phx_ref().to_string()))
                .collect();
            presences.sort();
            expected.push((key.to_owned(), presences));
        }
        let expected: Vec<(String, Vec<String>)> = expected
            .into_iter()
            .map(|(key, presences)| (key, presences.into_iter().map(|(_, r)| r).collect()))
            .collect();
        assert_eq!(listing(&state), expected);
        assert_eq!(expected[0].1.len(), 4, "alice: two pids on two replicas");
        assert_eq!(expected[2].1.len(), 3, "carol: one pid untracked here");

        state.replica_down(&remote).unwrap();
        let local_only: Vec<usize> = listing(&state).iter().map(|(_, r)| r.len()).collect();
        assert_eq!(local_only, vec![2, 1, 1]);
        other.untrack_all("p2");
        state.remove_replica(&remote).unwrap();
        state.untrack_all("p2");
        let keys: Vec<String> = listing(&state).into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, vec!["alice".to_owned(), "carol".to_owned()]);
    }

    #[test]
    fn bulk_liveness_changes_report_every_presence_by_counter() {
        let owner = ReplicaId::new("owner", 1);
        let mut source = PresenceState::new(owner.clone());
        for i in 0..600 {
            let pid = format!("p{i}");
            source
                .track(&format!("room:{}", i % 7), "k", &pid, &Meta::empty())
                .unwrap();
        }
        let mut peer = PresenceState::new(ReplicaId::new("peer", 1));
        peer.merge(source.full_state(None));
        let down = peer.replica_down(&owner).unwrap();
        assert_eq!(down.leaves().count(), 600);
        assert_eq!(peer.len(), 0);
        for (_, changes) in down.topics() {
            assert!(changes.leaves.is_sorted_by_key(|p| p.dot().counter));
        }
        let up = peer.replica_up(&owner).unwrap();
        assert_eq!(up.joins().count(), 600);
        let removed = peer.remove_replica(&owner).unwrap();
        assert_eq!(removed.leaves().count(), 600);
        assert_eq!((peer.len(), peer.stored_len()), (0, 0));
    }
}
