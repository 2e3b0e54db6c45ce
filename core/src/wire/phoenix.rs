//! The payloads Phoenix clients receive: `presence_state`, `presence_diff`, and the V2 channel
//! frame that carries them. The `phoenix` npm client applies them with `Presence.syncState` and
//! `Presence.syncDiff`.
//!
//! Each meta is sent as the exact text it was tracked with, with `"phx_ref"` (and, for the new
//! entry of an update, `"phx_ref_prev"`) spliced in before its closing brace: no parsing, no
//! reordering of keys, no reformatting of numbers. Refs derive from dots, so every node sends
//! the same ref for the same entry.

use std::collections::BTreeMap;

use super::escape::push_json_str;
use crate::diff::{Diff, TopicDiff};
use crate::dot::write_ref;
use crate::presence::{KeyPresences, Presence, PresenceState};

/// The `presence_state` payload of `topic`: `{"<key>": {"metas": [{..meta.., "phx_ref": ..}]}}`,
/// keys in order, each key's metas in dot order.
pub fn presence_state(state: &PresenceState, topic: &str) -> String {
    presence_state_from_list(&state.list(topic))
}

/// The `presence_state` payload of a topic's listing (as returned by
/// [`PresenceState::list`]), for callers that hold the listing already.
pub fn presence_state_from_list(list: &[KeyPresences]) -> String {
    let mut out = String::with_capacity(2 + list.len() * 96);
    out.push('{');
    for (position, group) in list.iter().enumerate() {
        if position > 0 {
            out.push(',');
        }
        push_key_metas(&mut out, group.key(), group.presences().iter());
    }
    out.push('}');
    out
}

/// The `presence_diff` payload of `topic`: `{"joins": {..}, "leaves": {..}}`, both always
/// present, with only that topic's part of a diff that may span many topics.
///
/// Keys are in order; a key's metas keep the diff's order. An update arrives as a leave of the
/// old ref and a join whose meta carries `phx_ref_prev`; `phoenix.js` applies joins before
/// leaves, so a key never flickers out during an update.
///
/// A diff concatenated over time may hold a join and a leave of the same entry (same ref).
/// `phoenix.js` applies the join first, so the entry ends absent: right for a track followed by
/// an untrack, wrong for a leave followed by a rejoin (a replica marked down, then up again).
/// Push those as two diffs.
pub fn encode_diff(diff: &Diff, topic: &str) -> String {
    match diff.topic(topic) {
        Some(changes) => encode_topic_diff(changes),
        None => String::from("{\"joins\":{},\"leaves\":{}}"),
    }
}

/// The `presence_diff` payload of one topic's changes.
pub fn encode_topic_diff(changes: &TopicDiff) -> String {
    let mut out = String::with_capacity(32 + (changes.joins.len() + changes.leaves.len()) * 96);
    out.push_str("{\"joins\":");
    push_grouped(&mut out, &changes.joins);
    out.push_str(",\"leaves\":");
    push_grouped(&mut out, &changes.leaves);
    out.push('}');
    out
}

/// A Phoenix V2 JSON frame: `[join_ref, ref, topic, event, payload]`. `payload_json` must be
/// JSON text (such as a payload built here); it is inserted as it is.
///
/// Server pushes carry `None` refs, except `presence_state`, which carries the `join_ref` of the
/// join it answers.
pub fn frame(
    join_ref: Option<&str>,
    msg_ref: Option<&str>,
    topic: &str,
    event: &str,
    payload_json: &str,
) -> String {
    let mut out = String::with_capacity(32 + topic.len() + event.len() + payload_json.len());
    out.push('[');
    push_optional(&mut out, join_ref);
    out.push(',');
    push_optional(&mut out, msg_ref);
    out.push(',');
    push_json_str(&mut out, topic);
    out.push(',');
    push_json_str(&mut out, event);
    out.push(',');
    out.push_str(payload_json);
    out.push(']');
    out
}

fn push_optional(out: &mut String, text: Option<&str>) {
    match text {
        Some(text) => push_json_str(out, text),
        None => out.push_str("null"),
    }
}

fn push_grouped(out: &mut String, presences: &[Presence]) {
    let mut by_key: BTreeMap<&str, Vec<&Presence>> = BTreeMap::new();
    for presence in presences {
        by_key.entry(presence.key()).or_default().push(presence);
    }
    out.push('{');
    for (position, (key, group)) in by_key.into_iter().enumerate() {
        if position > 0 {
            out.push(',');
        }
        push_key_metas(out, key, group.into_iter());
    }
    out.push('}');
}

fn push_key_metas<'a>(out: &mut String, key: &str, metas: impl Iterator<Item = &'a Presence>) {
    push_json_str(out, key);
    out.push_str(":{\"metas\":[");
    for (position, presence) in metas.enumerate() {
        if position > 0 {
            out.push(',');
        }
        push_meta(out, presence);
    }
    out.push_str("]}");
}

/// Writes the presence's meta with its refs spliced in before the closing brace.
fn push_meta(out: &mut String, presence: &Presence) {
    // A `Meta` is a validated, trimmed JSON object, so it ends with its closing brace.
    let meta = presence.meta();
    let open = meta.strip_suffix('}').unwrap_or("{");
    let is_empty = open
        .strip_prefix('{')
        .is_some_and(|inner| inner.trim().is_empty());
    out.push_str(open);
    if !is_empty {
        out.push(',');
    }
    out.push_str("\"phx_ref\":\"");
    write_ref(out, presence.replica(), presence.dot().counter);
    out.push('"');
    if let Some(replaced) = presence.entry().replaces() {
        out.push_str(",\"phx_ref_prev\":\"");
        write_ref(out, presence.replica(), replaced);
        out.push('"');
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::Meta;
    use crate::replica::ReplicaId;
    use serde_json::Value;

    fn state() -> PresenceState {
        PresenceState::new(ReplicaId::new("node-a", 1))
    }

    fn meta(text: &str) -> Meta {
        Meta::from_json(text).unwrap()
    }

    #[test]
    fn metas_keep_their_exact_text_and_gain_a_ref() {
        let mut state = state();
        let tracked = state
            .track("room", "alice", "p1", &meta(r#"{"z":1.50,"a":[1e3, 2]}"#))
            .unwrap();
        state.track("room", "bob", "p2", &meta("{ }")).unwrap();
        let payload = presence_state(&state, "room");
        let bob_ref = state.get_by_key("room", "bob")[0].phx_ref();
        assert_eq!(
            payload,
            format!(
                r#"{{"alice":{{"metas":[{{"z":1.50,"a":[1e3, 2],"phx_ref":"{}"}}]}},"bob":{{"metas":[{{ "phx_ref":"{}"}}]}}}}"#,
                tracked.phx_ref(),
                bob_ref
            )
        );
        let parsed: Value = serde_json::from_str(&payload).unwrap();
        assert_eq!(
            parsed["alice"]["metas"][0]["phx_ref"],
            tracked.phx_ref().as_str()
        );
    }

    #[test]
    fn an_update_leaves_the_old_ref_and_joins_with_phx_ref_prev() {
        let mut state = state();
        let first = state
            .track("room", "alice", "p1", &meta(r#"{"s":1}"#))
            .unwrap();
        let second = state
            .update("room", "alice", "p1", &meta(r#"{"s":2}"#))
            .unwrap();
        let payload: Value = serde_json::from_str(&encode_diff(&second.diff(), "room")).unwrap();
        let joined = &payload["joins"]["alice"]["metas"][0];
        assert_eq!(joined["s"], 2);
        assert_eq!(joined["phx_ref"], second.phx_ref().as_str());
        assert_eq!(joined["phx_ref_prev"], first.phx_ref().as_str());
        let left = &payload["leaves"]["alice"]["metas"][0];
        assert_eq!(left["phx_ref"], first.phx_ref().as_str());
        assert!(left.get("phx_ref_prev").is_none());
    }

    #[test]
    fn a_diff_is_encoded_for_one_topic_only_with_both_keys_present() {
        let mut state = state();
        let mut diff = state.track("a", "k1", "p", &Meta::empty()).unwrap().diff();
        diff.extend(state.track("b", "k2", "p", &Meta::empty()).unwrap().diff());
        let payload: Value = serde_json::from_str(&encode_diff(&diff, "a")).unwrap();
        assert_eq!(payload["joins"].as_object().unwrap().len(), 1);
        assert!(payload["joins"].get("k1").is_some());
        assert_eq!(payload["leaves"], serde_json::json!({}));
        assert_eq!(
            encode_diff(&diff, "elsewhere"),
            r#"{"joins":{},"leaves":{}}"#
        );
    }

    #[test]
    fn frames_follow_the_v2_array_layout() {
        assert_eq!(
            frame(Some("1"), None, "room:\"x\"", "presence_diff", "{}"),
            r#"["1",null,"room:\"x\"","presence_diff",{}]"#
        );
    }
}
