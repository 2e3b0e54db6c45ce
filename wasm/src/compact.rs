//! Presences as one text and a list of `u32` words, the form lists and diffs cross to JS in.
//!
//! A JSON text of presences costs the JS side a full `JSON.parse` (most of a list's time) and
//! repeats what neighbours share (the topic, the key of a group, the replica). Here the text holds
//! each presence's strings one after the other, a field left out when it equals the previous
//! presence's, followed by the metas as one JSON array; the words say which fields are present
//! and where each ends, counted in UTF-16 code units (the JS string's indexes). The wrapper slices
//! the strings out and parses only the metas' array.
//!
//! Words: `[presences, metas_start]`, then per presence a flags word, the end of each field
//! written (in this order: topic, key, pid, phxRef, phxRefPrev, replica name, replica incarnation;
//! the flags name which were written; the pid and phxRef always are), the end of its meta
//! within the metas' array, and the low 32 bits of its dot's counter ([`BIG_COUNTER`] flags a
//! counter that does not fit). A diff is its joins then its leaves, after a word counting the joins.
//! A flag also says whether a meta's text is the one a JS round trip gives ([`CANONICAL`]).

use beryl_core::{Diff, KeyPresences, Presence, ReplicaId};

/// The presence's topic is written (it differs from the previous presence's).
pub const TOPIC: u32 = 1;
/// The presence's key is written (it differs from the previous presence's, or starts a group).
pub const KEY: u32 = 2;
/// The presence has a `phxRefPrev`, written after its `phxRef`.
pub const REF_PREV: u32 = 4;
/// The presence's replica is written (it differs from the previous presence's).
pub const REPLICA: u32 = 8;

/// The presence's meta text is the one `JSON.stringify(JSON.parse(text))` gives back, so the
/// wrapper need not keep it for `encodeDiff` (diffs only: lists and presences never set it).
pub const CANONICAL: u32 = 16;

/// Whether `JSON.stringify(JSON.parse(meta))` in JS gives `meta` back, for a meta the core
/// accepted (valid JSON). Conservative: `false` may be wrong, `true` never is. It is `false` for
/// whitespace outside strings, `\u` and `\/` escapes, numbers other than integers of at most 15
/// digits (and `-0`), keys that are digits only (JS lists those first), keys with escapes, and
/// objects with a repeated key or more than 32 keys.
pub fn canonical(meta: &str) -> bool {
    let bytes = meta.as_bytes();
    // The keys of the objects being read, innermost last, with the depth each belongs to.
    let mut keys: Vec<(u32, &[u8])> = Vec::new();
    let mut depth = 0u32;
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'{' | b'[' => {
                depth += 1;
                at += 1;
            }
            b'}' | b']' => {
                while keys.last().is_some_and(|&(level, _)| level == depth) {
                    keys.pop();
                }
                depth = depth.saturating_sub(1);
                at += 1;
            }
            b',' | b':' => at += 1,
            b'"' => {
                let start = at + 1;
                let mut end = start;
                let mut escaped = false;
                // Metas are valid JSON; anything else only makes the answer false.
                loop {
                    match bytes.get(end) {
                        None => return false,
                        Some(b'"') => break,
                        Some(_) => {}
                    }
                    if bytes[end] == b'\\' {
                        if matches!(bytes.get(end + 1), Some(b'u' | b'/') | None) {
                            return false;
                        }
                        escaped = true;
                        end += 1;
                    }
                    end += 1;
                }
                at = end + 1;
                if bytes.get(at) == Some(&b':') {
                    let key = &bytes[start..end];
                    if escaped || key.iter().all(u8::is_ascii_digit) {
                        return false;
                    }
                    let mut siblings = 0;
                    for &(level, other) in keys.iter().rev() {
                        if level != depth {
                            break;
                        }
                        if other == key {
                            return false;
                        }
                        siblings += 1;
                    }
                    if siblings >= 32 {
                        return false;
                    }
                    keys.push((depth, key));
                }
            }
            b'-' | b'0'..=b'9' => {
                let start = at;
                at += usize::from(bytes[at] == b'-');
                let digits = at;
                while at < bytes.len() && bytes[at].is_ascii_digit() {
                    at += 1;
                }
                let count = at - digits;
                if count > 15
                    || matches!(bytes.get(at), Some(b'.' | b'e' | b'E'))
                    || &bytes[start..at] == b"-0"
                {
                    return false;
                }
            }
            b't' | b'n' => at += 4,
            b'f' => at += 5,
            _ => return false,
        }
    }
    true
}

/// The presence's dot counter does not fit its word (it is at least 2^32).
pub const BIG_COUNTER: u32 = 32;

/// The length of `text` in UTF-16 code units.
fn utf16_len(text: &str) -> u32 {
    let units = if text.is_ascii() {
        text.len()
    } else {
        text.chars().map(char::len_utf16).sum()
    };
    // Texts are far below 4 GiB: wasm32 memory and the limits bound them.
    units as u32
}

/// Presences being written in the compact form.
#[derive(Default)]
pub struct Compact {
    text: String,
    units: u32,
    metas: String,
    metas_units: u32,
    words: Vec<u32>,
    count: u32,
    /// Whether metas are flagged [`CANONICAL`]: only diffs need it (for `encodeDiff`).
    flag_canonical: bool,
}

impl Compact {
    /// An empty encoding, with its header words reserved (`extra` more after them).
    fn new(extra: usize, capacity: usize) -> Self {
        let mut words = Vec::with_capacity(2 + extra + capacity * 6);
        words.resize(2 + extra, 0);
        Compact {
            text: String::with_capacity(capacity * 48),
            metas: String::with_capacity(2 + capacity * 48),
            words,
            ..Compact::default()
        }
    }

    #[inline(always)]
    fn push_str(&mut self, text: &str) {
        self.text.push_str(text);
        self.units += utf16_len(text);
        self.words.push(self.units);
    }

    fn push_presence(&mut self, presence: &Presence, previous: Option<&Presence>, group: bool) {
        let flags_at = self.words.len();
        self.words.push(0);
        let mut flags = 0;
        if previous.is_none_or(|previous| previous.topic() != presence.topic()) {
            flags |= TOPIC;
            self.push_str(presence.topic());
        }
        if group || previous.is_none_or(|previous| previous.key() != presence.key()) {
            flags |= KEY;
            self.push_str(presence.key());
        }
        self.push_str(presence.pid());
        self.push_str(presence.phx_ref().as_str());
        if let Some(previous) = presence.phx_ref_prev() {
            flags |= REF_PREV;
            self.push_str(previous.as_str());
        }
        if previous.is_none_or(|previous| !same_replica(previous.replica(), presence.replica())) {
            flags |= REPLICA;
            let replica = presence.replica();
            self.push_str(replica.name());
            // Once per run of one replica's presences, not per presence.
            self.push_str(&replica.incarnation().to_string());
        }
        if self.flag_canonical && canonical(presence.meta()) {
            flags |= CANONICAL;
        }
        let counter = presence.dot().counter;
        if counter > u64::from(u32::MAX) {
            flags |= BIG_COUNTER;
        }
        self.words[flags_at] = flags;
        self.metas.push(if self.count == 0 { '[' } else { ',' });
        self.metas.push_str(presence.meta());
        self.metas_units += 1 + utf16_len(presence.meta());
        self.words.push(self.metas_units);
        // Truncated when it does not fit: BIG_COUNTER says so.
        self.words.push(counter as u32);
        self.count += 1;
    }

    fn push_all<'a>(&mut self, presences: impl IntoIterator<Item = &'a Presence>) -> u32 {
        let mut previous = None;
        let mut count = 0;
        for presence in presences {
            self.push_presence(presence, previous, false);
            previous = Some(presence);
            count += 1;
        }
        count
    }

    /// The text and the words, the header filled in.
    fn finish(mut self) -> (String, Vec<u32>) {
        self.words[0] = self.count;
        self.words[1] = self.units;
        if self.count == 0 {
            self.metas.push('[');
        }
        self.metas.push(']');
        self.text.push_str(&self.metas);
        (self.text, self.words)
    }
}

fn same_replica(a: &ReplicaId, b: &ReplicaId) -> bool {
    a.incarnation() == b.incarnation() && a.name() == b.name()
}

/// A diff: the word after the header counts its joins; the joins come first, then the leaves,
/// each run starting afresh (its first presence writes every field).
pub fn diff(diff: &Diff) -> (String, Vec<u32>) {
    let mut out = Compact::new(1, 1);
    out.flag_canonical = true;
    let joins = out.push_all(diff.joins());
    out.words[2] = joins;
    out.push_all(diff.leaves());
    out.finish()
}

/// A topic's listing: every group's first presence writes its key, the others do not.
pub fn list(groups: &[KeyPresences]) -> (String, Vec<u32>) {
    let presences = groups.iter().map(|group| group.presences().len()).sum();
    let mut out = Compact::new(0, presences);
    let mut previous = None;
    for group in groups {
        for (index, presence) in group.presences().iter().enumerate() {
            out.push_presence(presence, previous, index == 0);
            previous = Some(presence);
        }
    }
    out.finish()
}

/// A list of presences.
pub fn presences(presences: &[Presence]) -> (String, Vec<u32>) {
    let mut out = Compact::new(0, presences.len());
    out.push_all(presences);
    out.finish()
}

/// The words of the last compact result a raw class returned, until JS takes them: the text
/// crosses as the call's result, the words by a second call.
#[derive(Default)]
pub struct PendingWords(Vec<u32>);

impl PendingWords {
    /// Keeps the words of `result` and returns its text.
    pub fn keep(&mut self, (text, words): (String, Vec<u32>)) -> String {
        self.0 = words;
        text
    }

    /// The words kept last (empty once taken).
    pub fn take(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_lengths_count_code_units() {
        assert_eq!(utf16_len("abc"), 3);
        assert_eq!(utf16_len("é"), 1);
        assert_eq!(utf16_len("😀x"), 3);
    }

    #[test]
    fn canonical_metas_are_those_a_js_round_trip_keeps() {
        for text in [
            "{}",
            r#"{"a":1,"b":[true,false,null,-12,"x\"y\\z\n"],"c":{"a":{}}}"#,
            "{\"s\":\"é 😀 \u{2028}\",\"n\":123456789012345,\"m\":-1,\"k\":[[],{}]}",
            r#"{"a":{"x":1},"b":{"x":2},"__proto__":0,"1a":0,"-1":0}"#,
        ] {
            assert!(canonical(text), "{text}");
        }
        for text in [
            r#"{"a": 1}"#,
            r#"{"a":1.5}"#,
            r#"{"a":1e3}"#,
            r#"{"a":-0}"#,
            r#"{"a":1234567890123456}"#,
            r#"{"a":"\u00e9"}"#,
            r#"{"a":"\/"}"#,
            r#"{"b":1,"10":2}"#,
            r#"{"a":1,"a":2}"#,
            r#"{"x":{"a":1,"a":2}}"#,
            r#"{"a\n":1}"#,
            "{\n}",
        ] {
            assert!(!canonical(text), "{text}");
        }
        // Texts that are not JSON (the core never stores one) give some answer, never a panic.
        for text in [
            r#"{"a":"unterminated"#,
            r#"{"a":"x\"#,
            "}}",
            "tru",
            "-",
            "\"",
        ] {
            let _ = canonical(text);
        }
        let many: Vec<String> = (0..40).map(|index| format!("\"k{index}\":0")).collect();
        assert!(!canonical(&format!("{{{}}}", many.join(","))));
    }
}
