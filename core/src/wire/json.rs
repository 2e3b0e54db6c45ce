//! The JSON encoding of replication messages: the same content as the binary form, readable,
//! for debugging and for JavaScript consumers (specified in `tests/vectors/README.md`).
//!
//! Incarnations are decimal strings because they exceed JavaScript's exact integer range;
//! counters are numbers. Metas are embedded as JSON objects, byte for byte as tracked.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt::Write;
use std::sync::Arc;

use hashbrown::HashSet;

use super::error::{DecodeError, Position};
use super::escape::push_json_str;
use super::limits::WireLimits;
use super::validate::{RangesBuilder, ReplicaTable, entry};
use super::{MessageType, UNDERSTOOD_VERSIONS, VERSION, replica_table};
use crate::aworset::DotMap;
use crate::context::{CausalContext, DotRanges};
use crate::json::{JsonError, Reader};
use crate::liveness::ReplicaStatus;
use crate::message::Message;
use crate::presence::{Delta, Entry};
use crate::replica::ReplicaId;

/// Encodes `message` as compact JSON text. Never fails.
pub fn encode(message: &Message) -> String {
    let replicas = replica_table(message);
    let index = |replica: &ReplicaId| replicas.get(replica).copied().unwrap_or(0);
    let mut out = String::with_capacity(128);
    let _ = write!(
        out,
        "{{\"version\":{VERSION},\"type\":\"{}\",\"replicas\":[",
        MessageType::of(message).name()
    );
    for (position, replica) in replicas.keys().enumerate() {
        if position > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":");
        push_json_str(&mut out, replica.name());
        let _ = write!(out, ",\"incarnation\":\"{}\"}}", replica.incarnation());
    }
    let _ = write!(out, "],\"from\":{}", index(message.from()));
    if let Some(to) = message.to() {
        let _ = write!(out, ",\"to\":{}", index(to));
    }
    match message {
        Message::Delta { delta, .. } | Message::StateReply { delta, .. } => {
            out.push_str(",\"delta\":");
            write_delta(&mut out, &index, delta);
        }
        Message::Heartbeat { digest, .. } | Message::StateRequest { digest, .. } => {
            out.push_str(",\"digest\":");
            write_context(&mut out, &index, digest);
        }
        Message::Goodbye { .. } => {}
        Message::Liveness {
            replica, status, ..
        } => {
            let _ = write!(
                out,
                ",\"replica\":{},\"status\":\"{}\"",
                index(replica),
                status_name(*status)
            );
        }
    }
    out.push('}');
    out
}

fn status_name(status: ReplicaStatus) -> &'static str {
    match status {
        ReplicaStatus::Up => "up",
        ReplicaStatus::Down => "down",
        ReplicaStatus::Removed => "removed",
    }
}

fn write_context(out: &mut String, index: &impl Fn(&ReplicaId) -> u64, context: &CausalContext) {
    out.push('[');
    let mut first_section = true;
    for (replica, ranges) in context.iter().filter(|(_, ranges)| !ranges.is_empty()) {
        if !first_section {
            out.push(',');
        }
        first_section = false;
        let _ = write!(
            out,
            "{{\"replica\":{},\"base\":{},\"cloud\":[",
            index(replica),
            ranges.base()
        );
        for (position, (first, last)) in ranges.cloud().iter().enumerate() {
            if position > 0 {
                out.push(',');
            }
            let _ = write!(out, "[{first},{last}]");
        }
        out.push_str("]}");
    }
    out.push(']');
}

fn write_delta(out: &mut String, index: &impl Fn(&ReplicaId) -> u64, delta: &Delta) {
    out.push_str("{\"context\":");
    write_context(out, index, delta.context());
    out.push_str(",\"entries\":[");
    for (position, (replica, counter, entry)) in delta.store().iter().enumerate() {
        if position > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "{{\"replica\":{},\"counter\":{counter}",
            index(replica)
        );
        if let Some(replaces) = entry.replaces() {
            let _ = write!(out, ",\"replaces\":{replaces}");
        }
        out.push_str(",\"topic\":");
        push_json_str(out, entry.topic());
        out.push_str(",\"key\":");
        push_json_str(out, entry.key());
        out.push_str(",\"pid\":");
        push_json_str(out, entry.pid());
        out.push_str(",\"meta\":");
        out.push_str(entry.meta());
        out.push('}');
    }
    out.push_str("]}");
}

struct MessageJson<'a> {
    kind: Cow<'a, str>,
    replicas: Vec<ReplicaJson<'a>>,
    from: u64,
    to: Option<u64>,
    delta: Option<DeltaJson<'a>>,
    digest: Option<Vec<SectionJson>>,
    replica: Option<u64>,
    status: Option<Cow<'a, str>>,
}

struct ReplicaJson<'a> {
    name: Cow<'a, str>,
    incarnation: Cow<'a, str>,
}

struct SectionJson {
    replica: u64,
    base: u64,
    cloud: Vec<(u64, u64)>,
}

#[derive(Default)]
struct DeltaJson<'a> {
    context: Vec<SectionJson>,
    entries: Vec<EntryJson<'a>>,
}

struct EntryJson<'a> {
    replica: u64,
    counter: u64,
    replaces: Option<u64>,
    topic: Cow<'a, str>,
    key: Cow<'a, str>,
    pid: Cow<'a, str>,
    /// The meta's exact text.
    meta: &'a str,
}

fn path(text: impl Into<String>) -> impl Fn() -> Position {
    let text = text.into();
    move || Position::Path(text.clone())
}

fn json_error(error: JsonError) -> DecodeError {
    DecodeError::Json {
        reason: error.reason().to_owned(),
        line: error.line(),
        column: error.column(),
    }
}

/// A list's limit: what it is, how many items it may hold, the limit's name and where.
#[derive(Clone, Copy)]
struct Count {
    field: &'static str,
    max: usize,
    limit: &'static str,
    at: &'static str,
}

/// The count limits, applied while the lists are read: a message over one is refused before the
/// rest of it is read and held in memory. A refusal stops the reader with a placeholder error;
/// the decoder then reports the refusal noted here instead.
struct Budget<'l> {
    limits: &'l WireLimits,
    /// Cloud ranges read so far, every section together.
    ranges: Cell<usize>,
    refused: Cell<Option<DecodeError>>,
}

impl Budget<'_> {
    fn refuse(&self, count: Count, found: usize, reader: &Reader<'_>) -> JsonError {
        self.refused.set(Some(DecodeError::TooMany {
            field: count.field,
            count: found as u64,
            max: count.max,
            limit: count.limit,
            at: Position::Path(count.at.into()),
        }));
        reader.error("over a count limit")
    }

    /// An array of at most `count.max` items, each read by `read`.
    fn list<'a, T>(
        &self,
        reader: &mut Reader<'a>,
        count: Count,
        mut read: impl FnMut(&mut Reader<'a>) -> Result<T, JsonError>,
    ) -> Result<Vec<T>, JsonError> {
        let mut out = Vec::new();
        let mut items = reader.array()?;
        while reader.item(&mut items)? {
            if out.len() == count.max {
                return Err(self.refuse(count, out.len() + 1, reader));
            }
            out.push(read(reader)?);
        }
        Ok(out)
    }

    fn sections(
        &self,
        reader: &mut Reader<'_>,
        at: &'static str,
    ) -> Result<Vec<SectionJson>, JsonError> {
        let count = Count {
            field: at,
            max: self.limits.max_replicas,
            limit: "max_replicas",
            at,
        };
        self.list(reader, count, |reader| read_section(reader, self, at))
    }
}

fn read_message<'a>(
    reader: &mut Reader<'a>,
    budget: &Budget<'_>,
) -> Result<MessageJson<'a>, JsonError> {
    let (mut kind, mut replicas, mut from) = (None, None, None);
    let mut message = MessageJson {
        kind: Cow::Borrowed(""),
        replicas: Vec::new(),
        from: 0,
        to: None,
        delta: None,
        digest: None,
        replica: None,
        status: None,
    };
    const NAMES: &[&str] = &[
        "version", "type", "replicas", "from", "to", "delta", "digest", "replica", "status",
    ];
    reader.fields(NAMES, false, |reader, index| {
        match index {
            // Its value was checked before this read.
            0 => {
                reader.u64()?;
            }
            1 => kind = Some(reader.string()?),
            2 => {
                let count = Count {
                    field: "replica table",
                    max: budget.limits.max_replicas,
                    limit: "max_replicas",
                    at: "replicas",
                };
                replicas = Some(budget.list(reader, count, read_replica)?);
            }
            3 => from = Some(reader.u64()?),
            4 => message.to = reader.optional(Reader::u64)?,
            5 => message.delta = reader.optional(|reader| read_delta(reader, budget))?,
            6 => message.digest = reader.optional(|reader| budget.sections(reader, "digest"))?,
            7 => message.replica = reader.optional(Reader::u64)?,
            _ => message.status = reader.optional(Reader::string)?,
        }
        Ok(())
    })?;
    message.kind = reader.required(kind, "type")?;
    message.replicas = reader.required(replicas, "replicas")?;
    message.from = reader.required(from, "from")?;
    Ok(message)
}

fn read_replica<'a>(reader: &mut Reader<'a>) -> Result<ReplicaJson<'a>, JsonError> {
    let [name, incarnation] = reader.values(&["name", "incarnation"], false, Reader::string)?;
    Ok(ReplicaJson {
        name: reader.required(name, "name")?,
        incarnation: reader.required(incarnation, "incarnation")?,
    })
}

fn read_section(
    reader: &mut Reader<'_>,
    budget: &Budget<'_>,
    at: &'static str,
) -> Result<SectionJson, JsonError> {
    let (mut replica, mut base, mut cloud) = (None, None, None);
    reader.fields(&["replica", "base", "cloud"], false, |reader, index| {
        match index {
            0 => replica = Some(reader.u64()?),
            1 => base = Some(reader.u64()?),
            _ => {
                let mut ranges = Vec::new();
                let mut items = reader.array()?;
                while reader.item(&mut items)? {
                    let total = budget.ranges.get() + 1;
                    if total > budget.limits.max_ranges {
                        let count = Count {
                            field: "cloud ranges",
                            max: budget.limits.max_ranges,
                            limit: "max_ranges",
                            at,
                        };
                        return Err(budget.refuse(count, total, reader));
                    }
                    budget.ranges.set(total);
                    ranges.push(read_range(reader)?);
                }
                cloud = Some(ranges);
            }
        }
        Ok(())
    })?;
    Ok(SectionJson {
        replica: reader.required(replica, "replica")?,
        base: reader.required(base, "base")?,
        cloud: reader.required(cloud, "cloud")?,
    })
}

/// A cloud range: `[first, last]`.
fn read_range(reader: &mut Reader<'_>) -> Result<(u64, u64), JsonError> {
    const SHAPE: &str = "a cloud range is an array of two integers, [first, last]";
    let mut items = reader.array()?;
    let mut bounds = [0; 2];
    for bound in &mut bounds {
        if !reader.item(&mut items)? {
            return Err(reader.error(SHAPE));
        }
        *bound = reader.u64()?;
    }
    if reader.item(&mut items)? {
        return Err(reader.error(SHAPE));
    }
    Ok((bounds[0], bounds[1]))
}

fn read_delta<'a>(
    reader: &mut Reader<'a>,
    budget: &Budget<'_>,
) -> Result<DeltaJson<'a>, JsonError> {
    let (mut context, mut entries) = (None, None);
    reader.fields(&["context", "entries"], false, |reader, index| {
        if index == 0 {
            context = Some(budget.sections(reader, "delta.context")?);
        } else {
            let count = Count {
                field: "entries",
                max: budget.limits.max_entries,
                limit: "max_entries",
                at: "delta.entries",
            };
            entries = Some(budget.list(reader, count, read_entry)?);
        }
        Ok(())
    })?;
    Ok(DeltaJson {
        context: reader.required(context, "context")?,
        entries: reader.required(entries, "entries")?,
    })
}

fn read_entry<'a>(reader: &mut Reader<'a>) -> Result<EntryJson<'a>, JsonError> {
    let (mut replica, mut counter, mut replaces) = (None, None, None);
    let (mut topic, mut key, mut pid, mut meta) = (None, None, None, None);
    const NAMES: &[&str] = &[
        "replica", "counter", "replaces", "topic", "key", "pid", "meta",
    ];
    reader.fields(NAMES, false, |reader, index| {
        match index {
            0 => replica = Some(reader.u64()?),
            1 => counter = Some(reader.u64()?),
            2 => replaces = reader.optional(Reader::u64)?,
            3 => topic = Some(reader.string()?),
            4 => key = Some(reader.string()?),
            5 => pid = Some(reader.string()?),
            // Depth was bounded before reading; the entry check validates the meta.
            _ => meta = Some(reader.skip(usize::MAX)?),
        }
        Ok(())
    })?;
    Ok(EntryJson {
        replica: reader.required(replica, "replica")?,
        counter: reader.required(counter, "counter")?,
        replaces,
        topic: reader.required(topic, "topic")?,
        key: reader.required(key, "key")?,
        pid: reader.required(pid, "pid")?,
        meta: reader.required(meta, "meta")?,
    })
}

/// The `version` field, found wherever it is among the others (which are only skipped), so
/// that a message of another version gets the "unsupported version" answer rather than
/// whatever its shape would earn it. `None`: present but not a non-negative integer.
fn probe_version(text: &str) -> Result<Option<u64>, JsonError> {
    let mut reader = Reader::new(text);
    let mut version = None;
    let mut members = reader.object()?;
    while let Some(key) = reader.key(&mut members)? {
        let value_start = reader.clone();
        if key == "version" && version.is_none() {
            if let Ok(number) = reader.u64() {
                version = Some(Some(number));
                continue;
            }
            reader = value_start;
            version = Some(None);
        }
        reader.skip(usize::MAX)?;
    }
    reader.finish()?;
    reader.required(version, "version")
}

/// Refuses JSON nested deeper than `max` before any parser recurses into it.
fn check_depth(text: &str, max: usize) -> Result<(), DecodeError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (offset, byte) in text.bytes().enumerate() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return Err(DecodeError::TooDeep {
                        max,
                        at: Position::Byte(offset),
                    });
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Decodes a JSON message, refusing anything malformed or over `limits`. Never panics.
pub fn decode(text: &str, limits: &WireLimits) -> Result<Message, DecodeError> {
    if text.len() > limits.max_message_bytes {
        return Err(DecodeError::MessageTooLarge {
            len: text.len(),
            max: limits.max_message_bytes,
        });
    }
    // The probe reads without recursing, so it may run before the depth check: a message of
    // another version is refused as such whatever its shape.
    match probe_version(text).map_err(json_error)? {
        Some(version) if version == u64::from(VERSION) => {}
        Some(version) => {
            return Err(DecodeError::UnsupportedVersion {
                found: version,
                understood: UNDERSTOOD_VERSIONS,
            });
        }
        None => {
            return Err(DecodeError::Invalid {
                field: "version",
                reason: "the version is a non-negative integer",
                at: Position::Path("version".into()),
            });
        }
    }
    check_depth(text, limits.max_json_depth)?;
    // The probe read the whole text: nothing follows the object.
    let budget = Budget {
        limits,
        ranges: Cell::new(0),
        refused: Cell::new(None),
    };
    let parsed = read_message(&mut Reader::new(text), &budget)
        .map_err(|error| budget.refused.take().unwrap_or_else(|| json_error(error)))?;
    build(parsed, limits)
}

fn build(parsed: MessageJson<'_>, limits: &WireLimits) -> Result<Message, DecodeError> {
    let Some(kind) = MessageType::from_name(&parsed.kind) else {
        return Err(DecodeError::UnknownType {
            found: format!("{:?}", parsed.kind),
            at: Position::Path("type".into()),
        });
    };
    let mut table = ReplicaTable::with_capacity(parsed.replicas.len());
    for (position, replica) in parsed.replicas.iter().enumerate() {
        let incarnation =
            parse_incarnation(&replica.incarnation).ok_or_else(|| DecodeError::BadInteger {
                field: "incarnation",
                reason: "an incarnation is a string of 1 to 20 decimal digits within 64 bits",
                at: Position::Path(format!("replicas[{position}].incarnation")),
            })?;
        table.push(
            &replica.name,
            incarnation,
            limits,
            path(format!("replicas[{position}]")),
        )?;
    }
    let get = |field: &'static str, index: u64| table.get(field, index, path(field)).cloned();
    let from = get("from", parsed.from)?;
    let allowed: &[&str] = match kind {
        MessageType::Delta => &["delta"],
        MessageType::Heartbeat => &["digest"],
        MessageType::StateRequest => &["to", "digest"],
        MessageType::StateReply => &["to", "delta"],
        MessageType::Goodbye => &[],
        MessageType::Liveness => &["replica", "status"],
    };
    let present = [
        ("to", parsed.to.is_some()),
        ("delta", parsed.delta.is_some()),
        ("digest", parsed.digest.is_some()),
        ("replica", parsed.replica.is_some()),
        ("status", parsed.status.is_some()),
    ];
    for (field, is_present) in present {
        let wanted = allowed.contains(&field);
        if is_present != wanted {
            return Err(DecodeError::Invalid {
                field,
                reason: if wanted {
                    "this message type requires the field"
                } else {
                    "this message type does not have the field"
                },
                at: Position::Path(field.into()),
            });
        }
    }
    // Presence was checked just above, so each `unwrap_or_default` only ever sees `Some`.
    Ok(match kind {
        MessageType::Delta => Message::Delta {
            from,
            delta: delta(parsed.delta.unwrap_or_default(), &table, limits)?,
        },
        MessageType::Heartbeat => Message::Heartbeat {
            from,
            digest: context(&parsed.digest.unwrap_or_default(), &table, "digest")?,
        },
        MessageType::StateRequest => Message::StateRequest {
            from,
            to: get("to", parsed.to.unwrap_or_default())?,
            digest: context(&parsed.digest.unwrap_or_default(), &table, "digest")?,
        },
        MessageType::StateReply => Message::StateReply {
            from,
            to: get("to", parsed.to.unwrap_or_default())?,
            delta: delta(parsed.delta.unwrap_or_default(), &table, limits)?,
        },
        MessageType::Goodbye => Message::Goodbye { from },
        MessageType::Liveness => Message::Liveness {
            from,
            replica: get("replica", parsed.replica.unwrap_or_default())?,
            status: match parsed.status.as_deref() {
                Some("up") => ReplicaStatus::Up,
                Some("down") => ReplicaStatus::Down,
                Some("removed") => ReplicaStatus::Removed,
                _ => {
                    return Err(DecodeError::Invalid {
                        field: "status",
                        reason: "a status is \"up\", \"down\" or \"removed\"",
                        at: Position::Path("status".into()),
                    });
                }
            },
        },
    })
}

fn parse_incarnation(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn context(
    sections: &[SectionJson],
    table: &ReplicaTable,
    field: &'static str,
) -> Result<CausalContext, DecodeError> {
    // Sections may come in any order: gathered, then built sorted, so that a message naming
    // many replicas costs O(r log r) rather than a shifting insert each.
    let mut gathered: Vec<(ReplicaId, DotRanges)> = Vec::with_capacity(sections.len());
    let mut listed = vec![false; table.len()];
    for (position, section) in sections.iter().enumerate() {
        let at = format!("{field}[{position}]");
        let replica = table.get("replica", section.replica, path(format!("{at}.replica")))?;
        // `get` succeeded, so the index is below the table's length.
        if std::mem::replace(&mut listed[section.replica as usize], true) {
            return Err(DecodeError::Invalid {
                field,
                reason: "a replica has two sections",
                at: Position::Path(at),
            });
        }
        let mut builder = RangesBuilder::new(section.base);
        for (range_position, &(first, last)) in section.cloud.iter().enumerate() {
            builder
                .push(first, last)
                .map_err(|reason| DecodeError::Invalid {
                    field: "cloud range",
                    reason,
                    at: Position::Path(format!("{at}.cloud[{range_position}]")),
                })?;
        }
        let ranges = builder.finish().map_err(|reason| DecodeError::Invalid {
            field,
            reason,
            at: Position::Path(at.clone()),
        })?;
        gathered.push((replica.clone(), ranges));
    }
    crate::sort::sort_unstable_by(&mut gathered, |a, b| a.0.cmp(&b.0));
    Ok(gathered.into_iter().collect())
}

fn delta(
    parsed: DeltaJson<'_>,
    table: &ReplicaTable,
    limits: &WireLimits,
) -> Result<Delta, DecodeError> {
    let context = context(&parsed.context, table, "delta.context")?;
    let mut topics: HashSet<Arc<str>> = HashSet::new();
    // Entries may come in any order: gathered with their positions, then sorted by dot and
    // stored one replica at a time, so a message in reverse order costs O(n log n), not O(n²).
    let mut gathered: Vec<(&ReplicaId, u64, usize, Entry)> =
        Vec::with_capacity(parsed.entries.len());
    let mut decoded = 0usize;
    for (position, parsed) in parsed.entries.iter().enumerate() {
        let at = format!("delta.entries[{position}]");
        // JSON text cannot expand, but the bound is the same for both forms.
        decoded = decoded
            .saturating_add(parsed.topic.len() + parsed.key.len() + parsed.pid.len())
            .saturating_add(parsed.meta.len());
        if decoded > limits.max_decoded_bytes {
            return Err(DecodeError::TooLong {
                field: "decoded text",
                len: decoded as u64,
                max: limits.max_decoded_bytes,
                limit: "WireLimits::max_decoded_bytes",
                at: Position::Path(at),
            });
        }
        let replica = table.get("replica", parsed.replica, path(format!("{at}.replica")))?;
        let covered = context
            .ranges(replica)
            .is_some_and(|ranges| ranges.contains(parsed.counter));
        if !covered {
            return Err(DecodeError::NotCovered {
                replica: replica.to_string(),
                counter: parsed.counter,
                at: Position::Path(at),
            });
        }
        let topic = match topics.get(parsed.topic.as_ref()) {
            Some(shared) => shared.clone(),
            None => {
                let shared: Arc<str> = Arc::from(parsed.topic.as_ref());
                topics.insert(shared.clone());
                shared
            }
        };
        let built = entry(
            topic,
            &parsed.key,
            &parsed.pid,
            parsed.meta,
            parsed.replaces,
            limits,
            path(at),
        )?;
        gathered.push((replica, parsed.counter, position, built));
    }
    crate::sort::sort_unstable_by(&mut gathered, |a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
    if let Some(pair) = gathered
        .windows(2)
        .find(|pair| pair[0].0 == pair[1].0 && pair[0].1 == pair[1].1)
    {
        return Err(DecodeError::Invalid {
            field: "entries",
            reason: "two entries have the same dot",
            at: Position::Path(format!("delta.entries[{}]", pair[1].2)),
        });
    }
    let mut store: DotMap<Entry> = DotMap::default();
    let mut entries = gathered.into_iter().peekable();
    while let Some((replica, counter, _, entry)) = entries.next() {
        let mut group = vec![(counter, entry)];
        while let Some((_, counter, _, entry)) = entries.next_if(|next| next.0 == replica) {
            group.push((counter, entry));
        }
        store.extend_replica(replica, group);
    }
    Ok(Delta::from_parts(store, context))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::Meta;
    use crate::presence::PresenceState;

    fn update_delta() -> Message {
        let mut state = PresenceState::new(ReplicaId::new("node \"a\"", u64::MAX));
        let meta = Meta::from_json(r#"{"n":1.50}"#).unwrap();
        state.track("room", "k\u{e9}", "p\n", &meta).unwrap();
        let updated = state.update("room", "k\u{e9}", "p\n", &meta).unwrap();
        Message::Delta {
            from: state.replica().clone(),
            delta: updated.delta(),
        }
    }

    fn decode_default(text: &str) -> Result<Message, DecodeError> {
        decode(text, &WireLimits::default())
    }

    /// A delta of three replicas, 200 entries each, some updated.
    fn three_replica_delta() -> Message {
        let mut delta = Delta::default();
        let mut from = None;
        for name in ["c", "a", "b"] {
            let mut state = PresenceState::new(ReplicaId::new(name, 7));
            for i in 0..200 {
                let meta = Meta::from_json(&format!(r#"{{"i":{i},"s":"x"}}"#)).unwrap();
                let pid = format!("p{i}");
                delta = delta.merged(state.track("room", "k", &pid, &meta).unwrap().delta());
                if i % 3 == 0 {
                    let updated = state.update("room", "k", &pid, &meta).unwrap();
                    delta = delta.merged(updated.delta());
                }
            }
            from = Some(state.replica().clone());
        }
        Message::Delta {
            from: from.unwrap(),
            delta,
        }
    }

    fn reversed(text: &str, fields: &[&str]) -> String {
        let mut value: serde_json::Value = serde_json::from_str(text).unwrap();
        for field in fields {
            value["delta"][field].as_array_mut().unwrap().reverse();
        }
        value.to_string()
    }

    #[test]
    fn entries_and_sections_in_any_order_decode_to_the_same_message() {
        let message = three_replica_delta();
        let text = encode(&message);
        let backwards = reversed(&text, &["entries", "context"]);
        assert_ne!(backwards, text);
        assert_eq!(decode_default(&backwards).unwrap(), message);

        // A repeated dot is still found, and named where it repeats.
        let mut value: serde_json::Value = serde_json::from_str(&backwards).unwrap();
        let entries = value["delta"]["entries"].as_array_mut().unwrap();
        let first = entries[0].clone();
        entries.push(first);
        let last = entries.len() - 1;
        let error = decode_default(&value.to_string()).unwrap_err();
        assert_eq!(
            error,
            DecodeError::Invalid {
                field: "entries",
                reason: "two entries have the same dot",
                at: Position::Path(format!("delta.entries[{last}]")),
            }
        );
    }

    #[test]
    fn decoded_text_is_bounded() {
        let text = encode(&three_replica_delta());
        let tight = WireLimits {
            max_decoded_bytes: 1_000,
            ..WireLimits::default()
        };
        let error = decode(&text, &tight).unwrap_err();
        assert!(
            matches!(
                error,
                DecodeError::TooLong {
                    field: "decoded text",
                    max: 1_000,
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(error.to_string().contains("max_decoded_bytes"), "{error}");
    }

    #[test]
    fn lists_over_a_count_limit_are_refused_while_they_are_read() {
        let refused = |text: &str, limits: WireLimits| match decode(text, &limits) {
            Err(DecodeError::TooMany {
                field, count, max, ..
            }) => (field, count, max),
            other => panic!("{other:?}"),
        };
        // Each count is one past the limit, not the list's length: reading stopped there.
        let text = encode(&three_replica_delta());
        let entries = WireLimits {
            max_entries: 100,
            ..WireLimits::default()
        };
        assert_eq!(refused(&text, entries), ("entries", 101, 100));
        let replicas = WireLimits {
            max_replicas: 2,
            ..WireLimits::default()
        };
        assert_eq!(refused(&text, replicas), ("replica table", 3, 2));
        let ranges: Vec<String> = (0..60)
            .map(|i| format!("[{},{}]", 3 * i + 3, 3 * i + 3))
            .collect();
        let heartbeat = format!(
            r#"{{"version":1,"type":"heartbeat","replicas":[{{"name":"a","incarnation":"1"}}],"from":0,"digest":[{{"replica":0,"base":1,"cloud":[{}]}}]}}"#,
            ranges.join(",")
        );
        let tight = WireLimits {
            max_ranges: 50,
            ..WireLimits::default()
        };
        assert_eq!(refused(&heartbeat, tight), ("cloud ranges", 51, 50));
        assert!(decode(&heartbeat, &WireLimits::default()).is_ok());
    }

    #[test]
    fn round_trips_and_keeps_metas_byte_for_byte() {
        let message = update_delta();
        let text = encode(&message);
        assert!(text.contains(r#""meta":{"n":1.50}"#), "{text}");
        assert!(text.contains(r#""incarnation":"18446744073709551615""#));
        assert!(text.contains(r#""replaces":1"#));
        assert_eq!(decode_default(&text).unwrap(), message);
    }

    #[test]
    fn an_unknown_version_names_the_versions_understood() {
        let text = encode(&update_delta()).replacen("\"version\":1", "\"version\":7", 1);
        assert_eq!(
            decode_default(&text).unwrap_err(),
            DecodeError::UnsupportedVersion {
                found: 7,
                understood: UNDERSTOOD_VERSIONS
            }
        );
        // Whatever its shape: deeper than this version allows, or fields it does not know.
        let deep = format!(
            r#"{{"x":{}{},"version":2}}"#,
            "[".repeat(40),
            "]".repeat(40)
        );
        assert!(matches!(
            decode_default(&deep),
            Err(DecodeError::UnsupportedVersion { found: 2, .. })
        ));
    }

    #[test]
    fn shape_errors_are_refused_with_a_position() {
        let text = encode(&update_delta());
        let extra = text.replacen("\"from\":0", "\"from\":0,\"to\":0", 1);
        assert!(matches!(
            decode_default(&extra),
            Err(DecodeError::Invalid { field: "to", .. })
        ));
        let unknown = text.replacen("\"from\":0", "\"from\":0,\"x\":0", 1);
        assert!(matches!(
            decode_default(&unknown),
            Err(DecodeError::Json { .. })
        ));
        let bad_index = text.replacen("\"from\":0", "\"from\":3", 1);
        assert!(matches!(
            decode_default(&bad_index),
            Err(DecodeError::BadIndex {
                index: 3,
                len: 1,
                ..
            })
        ));
        let reserved = text.replacen("{\"n\":1.50}", "{\"phx_ref\":1}", 1);
        let error = decode_default(&reserved).unwrap_err();
        assert!(
            matches!(&error, DecodeError::Meta { at: Position::Path(path), .. } if path == "delta.entries[0]"),
            "{error:?}"
        );
        let deep = text.replacen(
            "{\"n\":1.50}",
            &format!("{{\"n\":{}{}}}", "[".repeat(40), "]".repeat(40)),
            1,
        );
        assert!(matches!(
            decode_default(&deep),
            Err(DecodeError::TooDeep { max: 32, .. })
        ));
        let gap = text.replacen("\"base\":3,\"cloud\":[]", "\"base\":1,\"cloud\":[[2,3]]", 1);
        assert_ne!(gap, text);
        assert!(matches!(
            decode_default(&gap),
            Err(DecodeError::Invalid {
                field: "cloud range",
                ..
            })
        ));
    }
}
