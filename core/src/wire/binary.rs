//! The compact binary encoding of replication messages (specified in `tests/vectors/README.md`).
//!
//! Layout: a 4-byte header (magic, version, message type), a table of the replicas the message
//! mentions (each once, referenced by index), then the message's fields. A delta adds a table of
//! its topics, a table of meta templates (metas cut at their numbers, so a shape that several
//! metas share is sent once), its causal context and its entries grouped by replica in dot
//! order. Integers are unsigned LEB128 varints; strings are a varint byte length followed by
//! UTF-8.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use hashbrown::HashMap;

use super::error::{DecodeError, Position};
use super::limits::WireLimits;
use super::template::Templates;
use super::validate::{RangesBuilder, ReplicaTable, check_count, entry};
use super::{MAGIC, MessageType, UNDERSTOOD_VERSIONS, VERSION, replica_table};
use crate::aworset::DotMap;
use crate::context::{CausalContext, DotRanges};
use crate::liveness::ReplicaStatus;
use crate::message::Message;
use crate::presence::{Delta, Entry};
use crate::replica::ReplicaId;

/// Encodes `message` in the binary form. Never fails: every message has an encoding.
pub fn encode(message: &Message) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded_size_hint(message));
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.push(MessageType::of(message) as u8);
    let replicas = ReplicaIndex::of(message);
    replicas.write_table(&mut out);
    write_varint(&mut out, replicas.index(message.from()));
    match message {
        Message::Delta { delta, .. } => write_delta(&mut out, &replicas, delta),
        Message::Heartbeat { digest, .. } => write_context(&mut out, &replicas, digest),
        Message::StateRequest { to, digest, .. } => {
            write_varint(&mut out, replicas.index(to));
            write_context(&mut out, &replicas, digest);
        }
        Message::StateReply { to, delta, .. } => {
            write_varint(&mut out, replicas.index(to));
            write_delta(&mut out, &replicas, delta);
        }
        Message::Goodbye { .. } => {}
        Message::Liveness {
            replica, status, ..
        } => {
            write_varint(&mut out, replicas.index(replica));
            out.push(status_code(*status));
        }
    }
    out
}

fn encoded_size_hint(message: &Message) -> usize {
    let entries = match message {
        Message::Delta { delta, .. } | Message::StateReply { delta, .. } => delta
            .store()
            .iter()
            .map(|(_, _, entry)| entry.key().len() + entry.pid().len() + entry.meta().len() + 8)
            .sum(),
        _ => 0,
    };
    64 + entries
}

fn status_code(status: ReplicaStatus) -> u8 {
    match status {
        ReplicaStatus::Up => 0,
        ReplicaStatus::Down => 1,
        ReplicaStatus::Removed => 2,
    }
}

/// The replica table of a message, with each replica's index.
struct ReplicaIndex<'a> {
    order: BTreeMap<&'a ReplicaId, u64>,
}

impl<'a> ReplicaIndex<'a> {
    fn of(message: &'a Message) -> Self {
        ReplicaIndex {
            order: replica_table(message),
        }
    }

    fn index(&self, replica: &ReplicaId) -> u64 {
        // Every replica the encoder asks for is in the table.
        self.order.get(replica).copied().unwrap_or(0)
    }

    fn write_table(&self, out: &mut Vec<u8>) {
        write_varint(out, self.order.len() as u64);
        for replica in self.order.keys() {
            write_str(out, replica.name());
            write_varint(out, replica.incarnation());
        }
    }
}

fn write_context(out: &mut Vec<u8>, replicas: &ReplicaIndex<'_>, context: &CausalContext) {
    let sections: Vec<_> = context
        .iter()
        .filter(|(_, ranges)| !ranges.is_empty())
        .collect();
    write_varint(out, sections.len() as u64);
    for (replica, ranges) in sections {
        write_varint(out, replicas.index(replica));
        write_varint(out, ranges.base());
        write_varint(out, ranges.cloud().len() as u64);
        let mut previous_end = ranges.base();
        for &(first, last) in ranges.cloud() {
            write_varint(out, first - previous_end);
            write_varint(out, last - first);
            previous_end = last;
        }
    }
}

fn write_delta(out: &mut Vec<u8>, replicas: &ReplicaIndex<'_>, delta: &Delta) {
    // Topics in order of first appearance, so the table is a function of the delta alone.
    let mut topic_index: HashMap<&str, u64> = HashMap::new();
    let mut topics: Vec<&str> = Vec::new();
    for (_, _, entry) in delta.store().iter() {
        topic_index.entry(entry.topic()).or_insert_with(|| {
            topics.push(entry.topic());
            topics.len() as u64 - 1
        });
    }
    write_varint(out, topics.len() as u64);
    for topic in &topics {
        write_str(out, topic);
    }
    let templates = Templates::build(delta.store().iter().map(|(_, _, entry)| entry.meta()));
    write_varint(out, templates.table.len() as u64);
    for segments in &templates.table {
        write_varint(out, segments.len() as u64 - 1);
        for segment in segments {
            write_str(out, segment);
        }
    }
    write_context(out, replicas, delta.context());
    let groups: Vec<_> = delta
        .store()
        .by_replica()
        .filter(|(_, entries)| !entries.is_empty())
        .collect();
    write_varint(out, groups.len() as u64);
    // Templates were built over the entries in this same (dot) order.
    let mut uses = templates.uses.iter();
    for (replica, entries) in groups {
        write_varint(out, replicas.index(replica));
        write_varint(out, entries.len() as u64);
        let mut previous = 0u64;
        for (&counter, entry) in entries {
            let step = u128::from(counter - previous);
            let has_replaces = u128::from(entry.replaces().is_some());
            write_varint_wide(out, (step << 1) | has_replaces);
            if let Some(replaces) = entry.replaces() {
                write_varint(out, replaces);
            }
            write_varint(out, topic_index[entry.topic()]);
            write_str(out, entry.key());
            write_str(out, entry.pid());
            match uses.next() {
                Some(Some((template, numbers))) => {
                    write_varint_wide(out, u128::from(*template) * 2 + 1);
                    for number in numbers {
                        write_str(out, number);
                    }
                }
                _ => {
                    write_varint_wide(out, entry.meta().len() as u128 * 2);
                    out.extend_from_slice(entry.meta().as_bytes());
                }
            }
            previous = counter;
        }
    }
}

fn write_varint(out: &mut Vec<u8>, value: u64) {
    write_varint_wide(out, u128::from(value));
}

fn write_varint_wide(out: &mut Vec<u8>, mut value: u128) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn write_str(out: &mut Vec<u8>, text: &str) {
    write_varint(out, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

/// Decodes a binary message, refusing anything malformed or over `limits`. Never panics. Tables
/// and entries take at most a small multiple of the input's size; the text of the entries can
/// be larger, since a meta shape shared by many entries travels once, and is bounded by
/// [`WireLimits::max_decoded_bytes`] (lower it for links whose messages are small).
pub fn decode(bytes: &[u8], limits: &WireLimits) -> Result<Message, DecodeError> {
    if bytes.len() > limits.max_message_bytes {
        return Err(DecodeError::MessageTooLarge {
            len: bytes.len(),
            max: limits.max_message_bytes,
        });
    }
    let magic_len = bytes.len().min(MAGIC.len());
    if bytes[..magic_len] != MAGIC[..magic_len] {
        return Err(DecodeError::BadMagic {
            found: bytes[..magic_len].to_vec(),
            expected: MAGIC,
        });
    }
    let mut reader = Reader {
        bytes,
        position: 0,
        limits,
        decoded: 0,
    };
    reader.take(MAGIC.len(), "magic")?;
    let version = reader.byte("version")?;
    if version != VERSION {
        return Err(DecodeError::UnsupportedVersion {
            found: u64::from(version),
            understood: UNDERSTOOD_VERSIONS,
        });
    }
    let type_at = reader.position;
    let code = reader.byte("message type")?;
    let Some(kind) = MessageType::from_code(code) else {
        return Err(DecodeError::UnknownType {
            found: code.to_string(),
            at: Position::Byte(type_at),
        });
    };
    let replicas = reader.replica_table()?;
    let from = reader.replica(&replicas, "from")?;
    let message = match kind {
        MessageType::Delta => Message::Delta {
            from,
            delta: reader.delta(&replicas)?,
        },
        MessageType::Heartbeat => Message::Heartbeat {
            from,
            digest: reader.context(&replicas, "digest")?,
        },
        MessageType::StateRequest => Message::StateRequest {
            from,
            to: reader.replica(&replicas, "to")?,
            digest: reader.context(&replicas, "digest")?,
        },
        MessageType::StateReply => Message::StateReply {
            from,
            to: reader.replica(&replicas, "to")?,
            delta: reader.delta(&replicas)?,
        },
        MessageType::Goodbye => Message::Goodbye { from },
        MessageType::Liveness => {
            let replica = reader.replica(&replicas, "replica")?;
            let at = reader.position;
            let status = match reader.byte("status")? {
                0 => ReplicaStatus::Up,
                1 => ReplicaStatus::Down,
                2 => ReplicaStatus::Removed,
                _ => {
                    return Err(DecodeError::Invalid {
                        field: "status",
                        reason: "a status is 0 (up), 1 (down) or 2 (removed)",
                        at: Position::Byte(at),
                    });
                }
            };
            Message::Liveness {
                from,
                replica,
                status,
            }
        }
    };
    if reader.position < bytes.len() {
        return Err(DecodeError::TrailingBytes {
            count: bytes.len() - reader.position,
            at: Position::Byte(reader.position),
        });
    }
    Ok(message)
}

/// A cursor over untrusted bytes: every read checks what is left first.
struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
    limits: &'a WireLimits,
    /// Bytes of text decoded so far, templates filled in (bounded by `max_decoded_bytes`).
    decoded: usize,
}

/// A meta template: the text around its numbers, borrowed from the input, and that text's total
/// length (what every use of the template costs before its numbers).
struct Template<'a> {
    segments: Vec<&'a str>,
    len: usize,
}

/// The fewest bytes one entry can take (step, topic, and three empty lengths), used to bound
/// allocations by what the input could possibly hold.
const MIN_ENTRY_BYTES: usize = 5;

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.position
    }

    fn take(&mut self, len: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        if len > self.remaining() {
            return Err(DecodeError::Truncated {
                field,
                at: Position::Byte(self.position),
            });
        }
        let slice = &self.bytes[self.position..self.position + len];
        self.position += len;
        Ok(slice)
    }

    fn byte(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, field)?[0])
    }

    /// Counts `len` more bytes of decoded text, refusing the message once they pass
    /// `max_decoded_bytes`: checked before the text is built, so nothing is allocated for it.
    fn spend(&mut self, len: usize, field: &'static str, at: usize) -> Result<(), DecodeError> {
        let total = self.decoded.saturating_add(len);
        if total > self.limits.max_decoded_bytes {
            return Err(DecodeError::TooLong {
                field,
                len: total as u64,
                max: self.limits.max_decoded_bytes,
                limit: "WireLimits::max_decoded_bytes",
                at: Position::Byte(at),
            });
        }
        self.decoded = total;
        Ok(())
    }

    /// Reads an unsigned LEB128 integer of at most `bits` bits, refusing overlong encodings so
    /// that every value has exactly one encoding.
    fn varint_bits(&mut self, field: &'static str, bits: u32) -> Result<u128, DecodeError> {
        let start = self.position;
        let mut value: u128 = 0;
        let mut shift = 0u32;
        loop {
            let byte = self.byte(field).map_err(|_| DecodeError::Truncated {
                field,
                at: Position::Byte(start),
            })?;
            let payload = u128::from(byte & 0x7f);
            if shift >= bits || (shift > 0 && payload >> (bits - shift) != 0) {
                return Err(DecodeError::BadInteger {
                    field,
                    reason: "larger than the field allows",
                    at: Position::Byte(start),
                });
            }
            value |= payload << shift;
            if byte & 0x80 == 0 {
                if byte == 0 && shift > 0 {
                    return Err(DecodeError::BadInteger {
                        field,
                        reason: "overlong varint (a redundant final zero byte)",
                        at: Position::Byte(start),
                    });
                }
                return Ok(value);
            }
            shift += 7;
        }
    }

    fn varint(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        // Most varints are one byte: read those without the 128-bit arithmetic of the general
        // case, which wasm has to emulate.
        if let Some(&byte) = self.bytes.get(self.position) {
            if byte & 0x80 == 0 {
                self.position += 1;
                return Ok(u64::from(byte));
            }
        }
        // 64 bits always fit a u64.
        self.varint_bits(field, 64).map(|value| value as u64)
    }

    /// Reads a count and checks it against `max` and against what the remaining bytes could
    /// hold, so a lying count cannot make the decoder reserve memory.
    fn count(
        &mut self,
        field: &'static str,
        max: usize,
        limit: &'static str,
        min_item_bytes: usize,
    ) -> Result<(usize, usize), DecodeError> {
        let at = self.position;
        let count = self.varint(field)?;
        let count = check_count(field, count, max, limit, || Position::Byte(at))?;
        let capacity = count.min(self.remaining() / min_item_bytes.max(1));
        Ok((count, capacity))
    }

    fn str(
        &mut self,
        field: &'static str,
        max: usize,
        limit: &'static str,
    ) -> Result<&'a str, DecodeError> {
        let at = self.position;
        let len = self.varint(field)?;
        if len > max as u64 {
            return Err(DecodeError::TooLong {
                field,
                len,
                max,
                limit,
                at: Position::Byte(at),
            });
        }
        let bytes = self.take(len as usize, field)?;
        std::str::from_utf8(bytes).map_err(|_| DecodeError::NotUtf8 {
            field,
            at: Position::Byte(at),
        })
    }

    fn replica_table(&mut self) -> Result<ReplicaTable, DecodeError> {
        let (count, capacity) =
            self.count("replica table", self.limits.max_replicas, "max_replicas", 2)?;
        let mut table = ReplicaTable::with_capacity(capacity);
        for _ in 0..count {
            let at = self.position;
            let name = self.str(
                "replica name",
                self.limits.max_replica_name_bytes,
                "WireLimits::max_replica_name_bytes",
            )?;
            let incarnation = self.varint("incarnation")?;
            table.push(name, incarnation, self.limits, || Position::Byte(at))?;
        }
        Ok(table)
    }

    fn replica(
        &mut self,
        table: &ReplicaTable,
        field: &'static str,
    ) -> Result<ReplicaId, DecodeError> {
        self.replica_at(table, field).map(|(_, replica)| replica)
    }

    /// Reads a reference into the replica table: the index and the replica it names.
    fn replica_at(
        &mut self,
        table: &ReplicaTable,
        field: &'static str,
    ) -> Result<(usize, ReplicaId), DecodeError> {
        let at = self.position;
        let index = self.varint(field)?;
        let replica = table.get(field, index, || Position::Byte(at))?.clone();
        // `get` succeeded, so the index is below the table's length.
        Ok((index as usize, replica))
    }

    fn context(
        &mut self,
        replicas: &ReplicaTable,
        field: &'static str,
    ) -> Result<CausalContext, DecodeError> {
        let (count, capacity) = self.count(field, self.limits.max_replicas, "max_replicas", 3)?;
        // Sections may come in any order: gather them, then build the context sorted, so that a
        // message naming many replicas costs O(r log r) rather than a shifting insert each.
        let mut sections: Vec<(ReplicaId, DotRanges)> = Vec::with_capacity(capacity);
        let mut listed = vec![false; replicas.len()];
        let mut total_ranges = 0usize;
        for _ in 0..count {
            let at = self.position;
            let (index, replica) = self.replica_at(replicas, "context replica")?;
            if std::mem::replace(&mut listed[index], true) {
                return Err(DecodeError::Invalid {
                    field,
                    reason: "a replica has two sections",
                    at: Position::Byte(at),
                });
            }
            let base = self.varint("context base")?;
            let ranges_at = self.position;
            let ranges = self.varint("cloud range count")?;
            total_ranges =
                total_ranges.saturating_add(usize::try_from(ranges).unwrap_or(usize::MAX));
            check_count(
                "cloud ranges",
                total_ranges as u64,
                self.limits.max_ranges,
                "max_ranges",
                || Position::Byte(ranges_at),
            )?;
            let mut builder = RangesBuilder::new(base);
            for _ in 0..ranges {
                let range_at = self.position;
                let gap = self.varint("cloud range gap")?;
                let span = self.varint("cloud range span")?;
                let invalid = |reason| DecodeError::Invalid {
                    field: "cloud range",
                    reason,
                    at: Position::Byte(range_at),
                };
                let first = builder
                    .previous_end()
                    .checked_add(gap)
                    .ok_or_else(|| invalid("counter overflows 64 bits"))?;
                let last = first
                    .checked_add(span)
                    .ok_or_else(|| invalid("counter overflows 64 bits"))?;
                builder.push(first, last).map_err(invalid)?;
            }
            let ranges = builder.finish().map_err(|reason| DecodeError::Invalid {
                field,
                reason,
                at: Position::Byte(at),
            })?;
            sections.push((replica, ranges));
        }
        crate::sort::sort_unstable_by(&mut sections, |a, b| a.0.cmp(&b.0));
        Ok(sections.into_iter().collect())
    }

    /// Reads the meta template table: each template's segments, borrowed from the input.
    fn templates(&mut self) -> Result<Vec<Template<'a>>, DecodeError> {
        let max_meta = self.limits.presence.max_meta_bytes;
        let (count, capacity) =
            self.count("template table", self.limits.max_entries, "max_entries", 2)?;
        let mut table = Vec::with_capacity(capacity);
        for _ in 0..count {
            let at = self.position;
            let (numbers, capacity) =
                self.count("template numbers", max_meta, "Limits::max_meta_bytes", 1)?;
            let mut segments = Vec::with_capacity(capacity.saturating_add(1));
            let mut total = 0usize;
            for _ in 0..=numbers {
                let segment = self.str("template segment", max_meta, "Limits::max_meta_bytes")?;
                total += segment.len();
                if total > max_meta {
                    return Err(DecodeError::TooLong {
                        field: "meta template",
                        len: total as u64,
                        max: max_meta,
                        limit: "Limits::max_meta_bytes",
                        at: Position::Byte(at),
                    });
                }
                segments.push(segment);
            }
            table.push(Template {
                segments,
                len: total,
            });
        }
        Ok(table)
    }

    /// Reads a meta: plain text, or a template filled with its numbers.
    fn meta(&mut self, templates: &[Template<'a>]) -> Result<Cow<'a, str>, DecodeError> {
        let max_meta = self.limits.presence.max_meta_bytes;
        let at = self.position;
        let tag = self.varint("meta")?;
        let too_long = |len: u64| DecodeError::TooLong {
            field: "meta",
            len,
            max: max_meta,
            limit: "Limits::max_meta_bytes",
            at: Position::Byte(at),
        };
        if tag % 2 == 0 {
            let len = tag / 2;
            if len > max_meta as u64 {
                return Err(too_long(len));
            }
            self.spend(len as usize, "decoded text", at)?;
            let bytes = self.take(len as usize, "meta")?;
            return std::str::from_utf8(bytes).map(Cow::Borrowed).map_err(|_| {
                DecodeError::NotUtf8 {
                    field: "meta",
                    at: Position::Byte(at),
                }
            });
        }
        let index = tag / 2;
        let template = usize::try_from(index)
            .ok()
            .and_then(|i| templates.get(i))
            .ok_or(DecodeError::BadIndex {
                field: "meta template",
                index,
                len: templates.len(),
                at: Position::Byte(at),
            })?;
        self.spend(template.len, "decoded text", at)?;
        let segments = &template.segments;
        let mut text = String::from(segments[0]);
        for segment in &segments[1..] {
            let number = self.str("meta number", max_meta, "Limits::max_meta_bytes")?;
            if text.len() + number.len() + segment.len() > max_meta {
                return Err(too_long((text.len() + number.len() + segment.len()) as u64));
            }
            self.spend(number.len(), "decoded text", at)?;
            text.push_str(number);
            text.push_str(segment);
        }
        Ok(Cow::Owned(text))
    }

    fn delta(&mut self, replicas: &ReplicaTable) -> Result<Delta, DecodeError> {
        let (count, capacity) =
            self.count("topic table", self.limits.max_entries, "max_entries", 1)?;
        let mut topics: Vec<Arc<str>> = Vec::with_capacity(capacity);
        for _ in 0..count {
            let at = self.position;
            let topic = self.str(
                "topic",
                self.limits.presence.max_topic_bytes,
                "Limits::max_topic_bytes",
            )?;
            self.spend(topic.len(), "decoded text", at)?;
            topics.push(Arc::from(topic));
        }
        let templates = self.templates()?;
        let context = self.context(replicas, "context")?;
        let (groups, capacity) =
            self.count("entry groups", self.limits.max_replicas, "max_replicas", 2)?;
        // Groups may come in any order: gathered, then stored sorted (see `context`).
        let mut gathered: Vec<(ReplicaId, Vec<(u64, Entry)>)> = Vec::with_capacity(capacity);
        let mut listed = vec![false; replicas.len()];
        let mut total = 0usize;
        for _ in 0..groups {
            let group_at = self.position;
            let (index, replica) = self.replica_at(replicas, "entry group replica")?;
            if std::mem::replace(&mut listed[index], true) {
                return Err(DecodeError::Invalid {
                    field: "entry groups",
                    reason: "a replica has two groups",
                    at: Position::Byte(group_at),
                });
            }
            let covered = context.ranges(&replica).cloned().unwrap_or_default();
            let count_at = self.position;
            let (entries, capacity) = self.count(
                "entries",
                self.limits.max_entries,
                "max_entries",
                MIN_ENTRY_BYTES,
            )?;
            if entries == 0 {
                return Err(DecodeError::Invalid {
                    field: "entries",
                    reason: "a group has no entry",
                    at: Position::Byte(count_at),
                });
            }
            total = total.saturating_add(entries);
            check_count(
                "entries",
                total as u64,
                self.limits.max_entries,
                "max_entries",
                || Position::Byte(count_at),
            )?;
            let mut group = Vec::with_capacity(capacity);
            let mut previous = 0u64;
            for _ in 0..entries {
                let at = self.position;
                let step_and_flag = self.varint_bits("counter step", 65)?;
                let step = (step_and_flag >> 1) as u64;
                let invalid = |reason| DecodeError::Invalid {
                    field: "counter step",
                    reason,
                    at: Position::Byte(at),
                };
                if step == 0 {
                    return Err(invalid("counters rise by at least 1 within a group"));
                }
                let counter = previous
                    .checked_add(step)
                    .ok_or_else(|| invalid("counter overflows 64 bits"))?;
                let replaces = if step_and_flag & 1 == 1 {
                    Some(self.varint("replaces")?)
                } else {
                    None
                };
                let topic_at = self.position;
                let topic_index = self.varint("topic index")?;
                let topic = usize::try_from(topic_index)
                    .ok()
                    .and_then(|i| topics.get(i))
                    .ok_or(DecodeError::BadIndex {
                        field: "topic index",
                        index: topic_index,
                        len: topics.len(),
                        at: Position::Byte(topic_at),
                    })?
                    .clone();
                let presence = &self.limits.presence;
                let key = self.str("key", presence.max_key_bytes, "Limits::max_key_bytes")?;
                let pid = self.str("pid", presence.max_pid_bytes, "Limits::max_pid_bytes")?;
                self.spend(key.len() + pid.len(), "decoded text", at)?;
                let meta = self.meta(&templates)?;
                if !covered.contains(counter) {
                    return Err(DecodeError::NotCovered {
                        replica: replica.to_string(),
                        counter,
                        at: Position::Byte(at),
                    });
                }
                let entry = entry(topic, key, pid, &meta, replaces, self.limits, || {
                    Position::Byte(at)
                })?;
                group.push((counter, entry));
                previous = counter;
            }
            gathered.push((replica, group));
        }
        crate::sort::sort_unstable_by(&mut gathered, |a, b| a.0.cmp(&b.0));
        let mut store: DotMap<Entry> = DotMap::default();
        for (replica, group) in gathered {
            // Counters rise within a group, so each group goes in as it is.
            store.extend_replica(&replica, group);
        }
        Ok(Delta::from_parts(store, context))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::Meta;
    use crate::presence::PresenceState;

    fn one_join() -> Message {
        let mut state = PresenceState::new(ReplicaId::new("node-a", 1_700_000_000_000 << 16));
        let tracked = state
            .track(
                "room:1",
                "user:1",
                "pid:1",
                &Meta::from_json(r#"{"s":1}"#).unwrap(),
            )
            .unwrap();
        Message::Delta {
            from: state.replica().clone(),
            delta: tracked.delta(),
        }
    }

    fn decode_default(bytes: &[u8]) -> Result<Message, DecodeError> {
        decode(bytes, &WireLimits::default())
    }

    #[test]
    fn varints_round_trip_at_their_edges_and_refuse_overlong_forms() {
        for value in [0u64, 1, 127, 128, 16_383, 16_384, u64::MAX - 1, u64::MAX] {
            let mut bytes = Vec::new();
            write_varint(&mut bytes, value);
            let limits = WireLimits::default();
            let mut reader = Reader {
                bytes: &bytes,
                position: 0,
                limits: &limits,
                decoded: 0,
            };
            assert_eq!(reader.varint("value").unwrap(), value);
            assert_eq!(reader.position, bytes.len());
        }
        let limits = WireLimits::default();
        let refused = |bytes: &[u8]| {
            let mut reader = Reader {
                bytes,
                position: 0,
                limits: &limits,
                decoded: 0,
            };
            reader.varint("value").unwrap_err()
        };
        assert!(matches!(
            refused(&[0x80, 0x00]),
            DecodeError::BadInteger { .. }
        ));
        // 2^64 does not fit.
        let mut too_big = vec![0x80; 9];
        too_big.push(0x02);
        assert!(matches!(refused(&too_big), DecodeError::BadInteger { .. }));
        assert!(matches!(
            refused(&[0xff, 0xff]),
            DecodeError::Truncated { .. }
        ));
    }

    #[test]
    fn the_header_is_checked_first() {
        let mut bytes = encode(&one_join());
        assert_eq!(&bytes[..2], &MAGIC);
        assert_eq!(bytes[2], VERSION);
        assert_eq!(decode_default(&bytes).unwrap(), one_join());

        bytes[2] = 9;
        let error = decode_default(&bytes).unwrap_err();
        assert_eq!(
            error,
            DecodeError::UnsupportedVersion {
                found: 9,
                understood: &[1]
            }
        );
        assert!(error.to_string().contains("[1]"), "{error}");
        assert!(matches!(
            decode_default(b"{\"version\":1}"),
            Err(DecodeError::BadMagic { .. })
        ));
        assert!(matches!(
            decode_default(&MAGIC[..1]),
            Err(DecodeError::Truncated { .. })
        ));
        assert!(matches!(
            decode_default(&[MAGIC[0], MAGIC[1], VERSION, 42]),
            Err(DecodeError::UnknownType { .. })
        ));
    }

    #[test]
    fn every_truncation_and_trailing_byte_is_refused() {
        let bytes = encode(&one_join());
        for len in 0..bytes.len() {
            assert!(decode_default(&bytes[..len]).is_err(), "prefix of {len}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            decode_default(&longer),
            Err(DecodeError::TrailingBytes { count: 1, .. })
        ));
    }

    #[test]
    fn an_entry_outside_its_context_is_refused_and_named() {
        let Message::Delta { from, delta } = one_join() else {
            unreachable!()
        };
        let (store, _) = delta.into_parts();
        let orphan = Message::Delta {
            from: from.clone(),
            delta: Delta::from_parts(store, CausalContext::new()),
        };
        let error = decode_default(&encode(&orphan)).unwrap_err();
        assert!(
            matches!(error, DecodeError::NotCovered { counter: 1, .. }),
            "{error:?}"
        );
    }

    #[test]
    fn limits_are_enforced_with_their_names() {
        let bytes = encode(&one_join());
        let small = WireLimits {
            max_message_bytes: bytes.len() - 1,
            ..WireLimits::default()
        };
        assert!(matches!(
            decode(&bytes, &small),
            Err(DecodeError::MessageTooLarge { .. })
        ));
        let short_keys = WireLimits {
            presence: crate::limits::Limits {
                max_key_bytes: 3,
                ..Default::default()
            },
            ..WireLimits::default()
        };
        let error = decode(&bytes, &short_keys).unwrap_err();
        assert!(
            matches!(
                error,
                DecodeError::TooLong {
                    field: "key",
                    len: 6,
                    max: 3,
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(error.to_string().contains("max_key_bytes"));
    }

    #[test]
    fn a_shared_meta_shape_cannot_expand_past_the_decoded_text_limit() {
        // 2,000 metas of one 1 KiB shape: a small message that decodes to 2 MB of metas.
        let padding = "x".repeat(1_024);
        let mut state = PresenceState::new(ReplicaId::new("node-a", 1));
        let mut delta = Delta::default();
        for i in 0..2_000 {
            let meta = Meta::from_json(&format!(r#"{{"pad":"{padding}","n":{i}}}"#)).unwrap();
            let tracked = state.track("t", "", &format!("{i}"), &meta).unwrap();
            delta = delta.merged(tracked.delta());
        }
        let message = Message::Delta {
            from: state.replica().clone(),
            delta,
        };
        let bytes = encode(&message);
        assert!(bytes.len() * 50 < 2_000 * 1_024, "{} bytes", bytes.len());
        assert_eq!(decode_default(&bytes).unwrap(), message);

        let limits = WireLimits {
            max_decoded_bytes: 1_000_000,
            ..WireLimits::default()
        };
        let error = decode(&bytes, &limits).unwrap_err();
        assert!(
            matches!(
                error,
                DecodeError::TooLong {
                    field: "decoded text",
                    max: 1_000_000,
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(error.to_string().contains("max_decoded_bytes"), "{error}");
    }

    #[test]
    fn sections_and_groups_in_any_order_decode_to_the_same_message() {
        // Replicas listed in reverse order in the table, so sections and groups come in
        // descending replica order.
        let mut delta = Delta::default();
        let mut from = None;
        for name in ["a", "b", "c"] {
            let mut state = PresenceState::new(ReplicaId::new(name, 1));
            let tracked = state.track("t", "k", "p", &Meta::empty()).unwrap();
            delta = delta.merged(tracked.delta());
            from = Some(state.replica().clone());
        }
        let message = Message::Delta {
            from: from.unwrap(),
            delta,
        };
        let bytes = encode(&message);
        // The table is at byte 4: a count of 3, then (name length, name, incarnation) x 3.
        let table = 4;
        assert_eq!(bytes[table], 3);
        let entry = |i: usize| table + 1 + 3 * i;
        assert_eq!(&bytes[entry(0)..entry(0) + 3], &[1, b'a', 1]);
        let mut swapped = bytes.clone();
        swapped[entry(0) + 1] = b'c';
        swapped[entry(2) + 1] = b'a';
        let decoded = decode_default(&swapped).unwrap();
        // Renaming a and c in the table is the same message with the two replicas swapped.
        let Message::Delta { delta: decoded, .. } = decoded else {
            panic!("a delta");
        };
        let names: Vec<_> = decoded
            .store()
            .iter()
            .map(|(replica, _, _)| replica.name().to_owned())
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
        let sections: Vec<_> = decoded
            .context()
            .iter()
            .map(|(replica, _)| replica.name().to_owned())
            .collect();
        assert_eq!(sections, ["a", "b", "c"]);
    }

    #[test]
    fn a_replica_listed_twice_is_refused_in_short_and_long_tables() {
        for len in [2usize, 8, 9, 40] {
            // A goodbye whose table lists r0..r(len-2), then r0 again.
            let mut bytes = MAGIC.to_vec();
            bytes.extend([VERSION, MessageType::Goodbye as u8, len as u8]);
            for i in 0..len - 1 {
                let name = format!("r{i}");
                bytes.push(name.len() as u8);
                bytes.extend(name.as_bytes());
                bytes.push(1);
            }
            bytes.extend([2, b'r', b'0', 1]);
            bytes.push(0);
            assert!(
                matches!(
                    decode_default(&bytes),
                    Err(DecodeError::Invalid {
                        reason: "a replica is listed twice",
                        ..
                    })
                ),
                "table of {len}"
            );
            // The same table with distinct names is fine.
            let last = bytes.len() - 4;
            bytes[last + 2] = b'x';
            assert!(decode_default(&bytes).is_ok(), "table of {len}");
        }
    }

    #[test]
    fn shared_meta_shapes_are_sent_once_and_rebuilt_exactly() {
        let mut state = PresenceState::new(ReplicaId::new("node-a", 1));
        let mut delta = Delta::default();
        for (i, number) in ["1", "-2.50e+3", "33"].into_iter().enumerate() {
            let meta =
                Meta::from_json(&format!(r#"{{"long_field_name":"same","n":{number}}}"#)).unwrap();
            let tracked = state.track("t", &format!("k{i}"), "p", &meta).unwrap();
            delta = delta.merged(tracked.delta());
        }
        let message = Message::Delta {
            from: state.replica().clone(),
            delta,
        };
        let bytes = encode(&message);
        let shape = br#"{"long_field_name":"same","n":"#;
        assert_eq!(bytes.windows(shape.len()).filter(|w| w == shape).count(), 1);
        assert_eq!(decode_default(&bytes).unwrap(), message);

        // A template may not carry more text than a meta may hold.
        let tight = WireLimits {
            presence: crate::limits::Limits {
                max_meta_bytes: 20,
                ..Default::default()
            },
            ..WireLimits::default()
        };
        assert!(matches!(
            decode(&bytes, &tight),
            Err(DecodeError::TooLong { .. })
        ));
    }
}
