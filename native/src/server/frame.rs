//! Phoenix Channels V2 frames: parsing what clients send, building what the server sends.
//!
//! A text frame is the JSON array `[join_ref, ref, topic, event, payload]`. Clients send refs as
//! strings (or `null`); the payload is any JSON value and is kept as raw text, so a meta inside
//! it reaches the presence state byte for byte.
//!
//! Binary frames carry the CRDT sync option's binary messages, in the layout `phoenix.js`
//! decodes: a push (kind 0) carries the join_ref, a broadcast (kind 2) none.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::error::FrameError;

/// The topic of socket-level messages (heartbeats).
pub const PHOENIX_TOPIC: &str = "phoenix";

/// Event names of the channel protocol.
pub mod events {
    /// A client joins a topic.
    pub const JOIN: &str = "phx_join";
    /// A client leaves a topic.
    pub const LEAVE: &str = "phx_leave";
    /// The reply to a client's message.
    pub const REPLY: &str = "phx_reply";
    /// The server closed a channel (after a leave, or when a newer join replaces it).
    pub const CLOSE: &str = "phx_close";
    /// The channel failed on the server; the client rejoins.
    pub const ERROR: &str = "phx_error";
    /// The socket-level keep-alive.
    pub const HEARTBEAT: &str = "heartbeat";
    /// A presence snapshot for `phoenix.js`'s `Presence`.
    pub const PRESENCE_STATE: &str = "presence_state";
    /// A presence change for `phoenix.js`'s `Presence`.
    pub const PRESENCE_DIFF: &str = "presence_diff";
    /// A client replaces the meta of its presence in a topic.
    pub const PRESENCE_UPDATE: &str = "presence:update";
    /// A replication message for a client on the CRDT sync option.
    pub const BERYL_SYNC: &str = "beryl_sync";
}

/// One frame received from a client, its payload still unparsed.
#[derive(Debug)]
pub struct Inbound {
    /// The join reference: which join of the topic the message belongs to.
    pub join_ref: Option<String>,
    /// The message reference, echoed in the reply.
    pub msg_ref: Option<String>,
    /// The channel topic, such as `room:lobby`.
    pub topic: String,
    /// The event name.
    pub event: String,
    /// The payload, as the JSON text the client sent.
    pub payload: Box<RawValue>,
}

/// A reference as clients send it: phoenix.js sends strings, other clients sometimes numbers.
#[derive(Deserialize)]
#[serde(untagged)]
enum WireRef {
    Text(String),
    Number(u64),
}

impl From<WireRef> for String {
    fn from(value: WireRef) -> Self {
        match value {
            WireRef::Text(text) => text,
            WireRef::Number(number) => number.to_string(),
        }
    }
}

type WireFrame = (
    Option<WireRef>,
    Option<WireRef>,
    String,
    String,
    Box<RawValue>,
);

/// Parses a text frame, refusing one longer than `max_bytes` before reading it.
pub fn parse(text: &str, max_bytes: usize) -> Result<Inbound, FrameError> {
    if text.len() > max_bytes {
        return Err(FrameError::TooLarge {
            bytes: text.len(),
            max_bytes,
        });
    }
    let (join_ref, msg_ref, topic, event, payload): WireFrame = serde_json::from_str(text)
        .map_err(|error| FrameError::Malformed {
            reason: error.to_string(),
        })?;
    if topic.is_empty() {
        return Err(FrameError::EmptyTopic);
    }
    Ok(Inbound {
        join_ref: join_ref.map(String::from),
        msg_ref: msg_ref.map(String::from),
        topic,
        event,
        payload,
    })
}

/// A `phx_reply` frame: `{"status": status, "response": response_json}`.
pub fn reply(
    join_ref: Option<&str>,
    msg_ref: Option<&str>,
    topic: &str,
    status: ReplyStatus,
    response_json: &str,
) -> String {
    let mut payload = String::with_capacity(32 + response_json.len());
    payload.push_str("{\"status\":\"");
    payload.push_str(status.as_str());
    payload.push_str("\",\"response\":");
    payload.push_str(response_json);
    payload.push('}');
    beryl_core::wire::phoenix::frame(join_ref, msg_ref, topic, events::REPLY, &payload)
}

/// An error reply whose response is `{"reason": reason}`.
pub fn error_reply(
    join_ref: Option<&str>,
    msg_ref: Option<&str>,
    topic: &str,
    reason: &str,
) -> String {
    reply(
        join_ref,
        msg_ref,
        topic,
        ReplyStatus::Error,
        &reason_json(reason),
    )
}

/// The `phx_error` frame Phoenix sends when a channel's server side fails: it carries the
/// join_ref as both refs, and `phoenix.js` answers it by rejoining after its rejoin delay.
pub fn channel_error(join_ref: &str, topic: &str) -> String {
    beryl_core::wire::phoenix::frame(Some(join_ref), Some(join_ref), topic, events::ERROR, "{}")
}

/// `{"reason": reason}` as JSON text.
pub fn reason_json(reason: &str) -> String {
    let mut out = String::from("{\"reason\":");
    out.push_str(&serde_json::Value::from(reason).to_string());
    out.push('}');
    out
}

/// The status of a `phx_reply`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyStatus {
    /// The message was handled.
    Ok,
    /// The message was refused; the response says why.
    Error,
}

impl ReplyStatus {
    fn as_str(self) -> &'static str {
        match self {
            ReplyStatus::Ok => "ok",
            ReplyStatus::Error => "error",
        }
    }
}

/// A binary push (kind 0, carrying the join_ref) as `phoenix.js` decodes it. `None` when a
/// field is longer than the 255 bytes the layout allows.
pub fn binary_push(join_ref: &str, topic: &str, event: &str, payload: &[u8]) -> Option<Vec<u8>> {
    let sizes = [join_ref.len(), topic.len(), event.len()].map(u8::try_from);
    let [Ok(join_ref_len), Ok(topic_len), Ok(event_len)] = sizes else {
        return None;
    };
    let mut out =
        Vec::with_capacity(4 + join_ref.len() + topic.len() + event.len() + payload.len());
    out.extend_from_slice(&[0, join_ref_len, topic_len, event_len]);
    out.extend_from_slice(join_ref.as_bytes());
    out.extend_from_slice(topic.as_bytes());
    out.extend_from_slice(event.as_bytes());
    out.extend_from_slice(payload);
    Some(out)
}

/// A binary broadcast (kind 2, no refs) as `phoenix.js` decodes it. `None` when the topic or
/// event is longer than 255 bytes.
pub fn binary_broadcast(topic: &str, event: &str, payload: &[u8]) -> Option<Vec<u8>> {
    let (Ok(topic_len), Ok(event_len)) = (u8::try_from(topic.len()), u8::try_from(event.len()))
    else {
        return None;
    };
    let mut out = Vec::with_capacity(3 + topic.len() + event.len() + payload.len());
    out.extend_from_slice(&[2, topic_len, event_len]);
    out.extend_from_slice(topic.as_bytes());
    out.extend_from_slice(event.as_bytes());
    out.extend_from_slice(payload);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_v2_frame_is_parsed_with_its_payload_kept_as_text() {
        let frame = parse(
            r#"["3","4","room:lobby","phx_join",{"key":"ada","meta":{"b":1.50,"a":2}}]"#,
            1024,
        )
        .unwrap();
        assert_eq!(frame.join_ref.as_deref(), Some("3"));
        assert_eq!(frame.msg_ref.as_deref(), Some("4"));
        assert_eq!(frame.topic, "room:lobby");
        assert_eq!(frame.event, "phx_join");
        assert_eq!(
            frame.payload.get(),
            r#"{"key":"ada","meta":{"b":1.50,"a":2}}"#
        );
    }

    #[test]
    fn null_and_numeric_refs_are_accepted() {
        let frame = parse(r#"[null,7,"phoenix","heartbeat",{}]"#, 1024).unwrap();
        assert_eq!(frame.join_ref, None);
        assert_eq!(frame.msg_ref.as_deref(), Some("7"));
    }

    #[test]
    fn malformed_frames_are_refused_with_a_reason() {
        for text in [
            "",
            "not json",
            "{}",
            r#"["1","1","t","e"]"#,
            r#"["1","1","t","e",{},"extra"]"#,
            r#"[1.5,"1","t","e",{}]"#,
            r#"["1","1",3,"e",{}]"#,
        ] {
            let error = parse(text, 1024).unwrap_err();
            assert!(
                matches!(error, FrameError::Malformed { .. }),
                "{text}: {error:?}"
            );
        }
        assert_eq!(
            parse(r#"["1","1","","e",{}]"#, 1024).unwrap_err(),
            FrameError::EmptyTopic
        );
    }

    #[test]
    fn an_oversized_frame_is_refused_before_parsing() {
        let text = format!(r#"["1","1","t","e",{{"x":"{}"}}]"#, "a".repeat(100));
        assert_eq!(
            parse(&text, 64).unwrap_err(),
            FrameError::TooLarge {
                bytes: text.len(),
                max_bytes: 64
            }
        );
    }

    #[test]
    fn replies_follow_the_phoenix_layout() {
        assert_eq!(
            reply(None, Some("9"), "phoenix", ReplyStatus::Ok, "{}"),
            r#"[null,"9","phoenix","phx_reply",{"status":"ok","response":{}}]"#
        );
        assert_eq!(
            error_reply(Some("1"), Some("2"), "room", "say \"why\""),
            r#"["1","2","room","phx_reply",{"status":"error","response":{"reason":"say \"why\""}}]"#
        );
    }

    #[test]
    fn a_channel_error_carries_the_join_ref_twice_as_phoenix_sends_it() {
        assert_eq!(
            channel_error("4", "room:lobby"),
            r#"["4","4","room:lobby","phx_error",{}]"#
        );
    }

    #[test]
    fn binary_frames_use_the_layout_phoenix_js_decodes() {
        let push = binary_push("12", "room", "ev", &[0xB7, 0x52]).unwrap();
        assert_eq!(push[..4], [0, 2, 4, 2]);
        assert_eq!(&push[4..], b"12roomev\xB7\x52");
        let broadcast = binary_broadcast("room", "ev", &[1]).unwrap();
        assert_eq!(broadcast, b"\x02\x04\x02roomev\x01");
        assert!(binary_broadcast(&"t".repeat(256), "ev", &[]).is_none());
        assert!(binary_push("1", "t", &"e".repeat(300), &[]).is_none());
    }
}
