//! JSON text for what crosses to JS: presences, diffs, lists and replica records.
//!
//! These results cross the boundary as one JSON string that the JS wrapper parses into plain
//! objects and arrays (a `PresenceState`'s lists and diffs use the [`crate::compact`] form
//! instead; `SyncNode` and the native tests use these). Metas are stored as validated JSON
//! text, so they are copied in verbatim, without a parse and re-serialisation in Rust; one
//! `JSON.parse` on the JS side builds everything.

use std::fmt::Write;

use beryl_core::{Diff, KeyPresences, Presence, ReplicaId, ReplicaStatus};

/// Appends `text` as a JSON string literal.
pub fn write_str(out: &mut String, text: &str) {
    out.push('"');
    let mut start = 0;
    for (index, byte) in text.bytes().enumerate() {
        let escape: Option<&str> = match byte {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0x00..=0x1f => None,
            _ => continue,
        };
        out.push_str(&text[start..index]);
        match escape {
            Some(escaped) => out.push_str(escaped),
            None => {
                let _ = write!(out, "\\u{byte:04x}");
            }
        }
        start = index + 1;
    }
    out.push_str(&text[start..]);
    out.push('"');
}

/// Appends `{"name":...,"incarnation":"..."}`; the incarnation is a decimal string because it
/// does not fit a JS number.
pub fn write_replica(out: &mut String, replica: &ReplicaId) {
    out.push_str("{\"name\":");
    write_str(out, replica.name());
    let _ = write!(out, ",\"incarnation\":\"{}\"}}", replica.incarnation());
}

/// Appends one presence object.
pub fn write_presence(out: &mut String, presence: &Presence) {
    out.push_str("{\"topic\":");
    write_str(out, presence.topic());
    out.push_str(",\"key\":");
    write_str(out, presence.key());
    out.push_str(",\"pid\":");
    write_str(out, presence.pid());
    out.push_str(",\"meta\":");
    out.push_str(presence.meta());
    out.push_str(",\"phxRef\":\"");
    out.push_str(presence.phx_ref().as_str());
    out.push_str("\",\"phxRefPrev\":");
    match presence.phx_ref_prev() {
        Some(previous) => {
            out.push('"');
            out.push_str(previous.as_str());
            out.push('"');
        }
        None => out.push_str("null"),
    }
    out.push_str(",\"replica\":");
    write_replica(out, presence.replica());
    out.push('}');
}

/// Appends a JSON array of presences.
pub fn write_presences<'a>(out: &mut String, presences: impl IntoIterator<Item = &'a Presence>) {
    out.push('[');
    for (index, presence) in presences.into_iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        write_presence(out, presence);
    }
    out.push(']');
}

/// A diff as `{"joins":[...],"leaves":[...]}`, presences ordered by topic, then as the diff
/// recorded them.
pub fn diff(diff: &Diff) -> String {
    let mut out = String::with_capacity(64);
    out.push_str("{\"joins\":");
    write_presences(&mut out, diff.joins());
    out.push_str(",\"leaves\":");
    write_presences(&mut out, diff.leaves());
    out.push('}');
    out
}

/// A topic's listing as `[{"key":...,"presences":[...]}, ...]`, keys in order.
pub fn list(groups: &[KeyPresences]) -> String {
    let mut out = String::with_capacity(64 + groups.len() * 160);
    out.push('[');
    for (index, group) in groups.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        out.push_str("{\"key\":");
        write_str(&mut out, group.key());
        out.push_str(",\"presences\":");
        write_presences(&mut out, group.presences());
        out.push('}');
    }
    out.push(']');
    out
}

/// A list of presences as a JSON array.
pub fn presences(presences: &[Presence]) -> String {
    let mut out = String::with_capacity(2 + presences.len() * 160);
    write_presences(&mut out, presences);
    out
}

/// The status name JS sees.
pub fn status_name(status: ReplicaStatus) -> &'static str {
    match status {
        ReplicaStatus::Up => "up",
        ReplicaStatus::Down => "down",
        ReplicaStatus::Removed => "removed",
    }
}

/// Known replicas as `[{"replica":{...},"status":"up"}, ...]`.
pub fn replicas(replicas: &[(ReplicaId, ReplicaStatus)]) -> String {
    let mut out = String::from("[");
    for (index, (replica, status)) in replicas.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        out.push_str("{\"replica\":");
        write_replica(&mut out, replica);
        out.push_str(",\"status\":\"");
        out.push_str(status_name(*status));
        out.push_str("\"}");
    }
    out.push(']');
    out
}

/// A list of strings as a JSON array.
pub fn strings<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::from("[");
    for (index, item) in items.into_iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        write_str(&mut out, item);
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_what_json_requires() {
        let mut out = String::new();
        write_str(&mut out, "a\"b\\c\nd\u{1}é\u{2028}");
        assert_eq!(out, "\"a\\\"b\\\\c\\nd\\u0001é\u{2028}\"");
        let back: String = serde_json::from_str(&out).unwrap();
        assert_eq!(back, "a\"b\\c\nd\u{1}é\u{2028}");
    }
}
