//! What a join means: the presence key and meta it tracks, how the socket wants to be kept up
//! to date, and the application's hook that authorizes joins or derives them.

use std::collections::HashMap;

use beryl_core::{Limits, Meta};
use serde::Deserialize;
use serde_json::value::RawValue;

/// How a joined socket is kept up to date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SyncMode {
    /// `presence_state`, then `presence_diff` frames, as `phoenix.js`'s `Presence` expects.
    Phoenix,
    /// The CRDT sync option: the topic's replication state, then deltas and liveness verdicts,
    /// as `beryl_sync` events, applied by a client replica with `merge`.
    Crdt(SyncFormat),
}

/// The encoding of the CRDT sync option's messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SyncFormat {
    /// The binary replication format, in binary WebSocket frames.
    Binary,
    /// The JSON replication format, as the payload of text frames.
    Json,
}

/// A join as the hook sees it.
#[derive(Debug)]
pub struct JoinRequest<'a> {
    /// The topic asked for.
    pub topic: &'a str,
    /// The join's payload (its params), as JSON text.
    pub payload: &'a RawValue,
    /// The query parameters of the socket's URL (`/socket/websocket?vsn=2.0.0&token=...`).
    pub connect_params: &'a HashMap<String, String>,
    /// The socket's id, which is also the `pid` of every presence it tracks.
    pub socket_id: &'a str,
    /// The limits keys and metas must respect.
    pub limits: &'a Limits,
}

/// What an accepted join tracks.
#[derive(Clone, Debug)]
pub struct JoinGrant {
    /// The presence key (typically the user id: one key groups a user's devices).
    pub key: String,
    /// The presence meta.
    pub meta: Meta,
    /// How the socket is kept up to date.
    pub sync: SyncMode,
}

/// Decides whether a join is allowed and what it tracks. The default, [`ParamsJoin`], takes
/// both from the join params; an application replaces it to check a token, derive the key from
/// the authenticated user, or refuse topics. The error is the reason sent to the client.
pub trait JoinHook: Send + Sync + 'static {
    /// Accepts the join with what to track, or refuses it with a reason.
    fn authorize(&self, request: &JoinRequest<'_>) -> Result<JoinGrant, String>;
}

impl<F> JoinHook for F
where
    F: Fn(&JoinRequest<'_>) -> Result<JoinGrant, String> + Send + Sync + 'static,
{
    fn authorize(&self, request: &JoinRequest<'_>) -> Result<JoinGrant, String> {
        self(request)
    }
}

/// The default hook: the join params `{"key": "...", "meta": {...}}` give the key and meta;
/// `"sync": "crdt"` (with `"format": "binary"` or `"json"`, binary by default) asks for the
/// CRDT sync option.
#[derive(Clone, Copy, Debug, Default)]
pub struct ParamsJoin;

impl JoinHook for ParamsJoin {
    fn authorize(&self, request: &JoinRequest<'_>) -> Result<JoinGrant, String> {
        let params = JoinParams::parse(request.payload, request.limits)?;
        Ok(JoinGrant {
            key: params.key,
            meta: params.meta,
            sync: params.sync,
        })
    }
}

/// The join params the default hook reads.
#[derive(Clone, Debug)]
pub struct JoinParams {
    /// `key`: required, a non-empty string.
    pub key: String,
    /// `meta`: a JSON object, `{}` when absent.
    pub meta: Meta,
    /// `sync` and `format`.
    pub sync: SyncMode,
}

#[derive(Deserialize)]
struct RawParams<'a> {
    key: Option<serde_json::Value>,
    #[serde(borrow)]
    meta: Option<&'a RawValue>,
    sync: Option<serde_json::Value>,
    format: Option<serde_json::Value>,
}

/// A string param, `None` when absent or `null`; any other JSON value gets `wrong`.
fn string_param(value: Option<serde_json::Value>, wrong: &str) -> Result<Option<String>, String> {
    match value {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(text)) => Ok(Some(text)),
        Some(other) => Err(format!("{wrong} (got {other})")),
    }
}

/// Why an object could not be read as join params, in the client's terms.
fn params_error(error: &serde_json::Error) -> Option<String> {
    let message = error.to_string();
    let field = message
        .strip_prefix("duplicate field `")?
        .split('`')
        .next()?;
    Some(format!(
        "the join param \"{field}\" is given twice; send each param once"
    ))
}

impl JoinParams {
    /// Reads the params of a join, checking the key and meta against `limits`.
    pub fn parse(payload: &RawValue, limits: &Limits) -> Result<JoinParams, String> {
        const SHAPE: &str = "join params must be an object {\"key\": \"<presence key>\", \
                             \"meta\": {...}}";
        if !payload.get().trim_start().starts_with('{') {
            return Err(SHAPE.to_owned());
        }
        let raw: RawParams<'_> = serde_json::from_str(payload.get())
            .map_err(|error| params_error(&error).unwrap_or_else(|| SHAPE.to_owned()))?;
        let sync = string_param(
            raw.sync,
            "the join param \"sync\" must be \"crdt\" (or left out)",
        )?;
        let format = string_param(
            raw.format,
            "the join param \"format\" must be \"binary\" or \"json\"",
        )?;
        let key = match raw.key {
            Some(serde_json::Value::String(key)) if !key.is_empty() => key,
            Some(serde_json::Value::String(_)) => {
                return Err("the join param \"key\" must not be empty".to_owned());
            }
            Some(_) => return Err("the join param \"key\" must be a string".to_owned()),
            None => return Err(format!("missing join param \"key\"; {SHAPE}")),
        };
        if key.len() > limits.max_key_bytes {
            return Err(format!(
                "the key is {} bytes long; at most {} are allowed",
                key.len(),
                limits.max_key_bytes
            ));
        }
        let meta = match raw.meta {
            Some(text) => parse_meta(text.get(), limits)?,
            None => Meta::empty(),
        };
        let sync = match (sync.as_deref(), format.as_deref()) {
            (None | Some("phoenix"), None) => SyncMode::Phoenix,
            (Some("crdt"), None | Some("binary")) => SyncMode::Crdt(SyncFormat::Binary),
            (Some("crdt"), Some("json")) => SyncMode::Crdt(SyncFormat::Json),
            (Some("crdt"), Some(other)) => {
                return Err(format!(
                    "unknown sync format {other:?}; use \"binary\" or \"json\""
                ));
            }
            (None | Some("phoenix"), Some(_)) => {
                return Err("\"format\" applies only with \"sync\": \"crdt\"".to_owned());
            }
            (Some(other), _) => {
                return Err(format!(
                    "unknown sync option {other:?}; use \"crdt\" or leave it out"
                ));
            }
        };
        Ok(JoinParams { key, meta, sync })
    }
}

/// Reads a meta object within `limits`, with a reason fit for the client when it is refused.
pub fn parse_meta(text: &str, limits: &Limits) -> Result<Meta, String> {
    Meta::from_json_within(text, limits).map_err(|error| format!("invalid meta: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    fn parse(text: &str) -> Result<JoinParams, String> {
        JoinParams::parse(&raw(text), &Limits::default())
    }

    #[test]
    fn key_and_meta_come_from_the_params_and_the_meta_keeps_its_text() {
        let params = parse(r#"{"key":"ada","meta":{"z":1.50,"a":"x"}}"#).unwrap();
        assert_eq!(params.key, "ada");
        assert_eq!(params.meta.as_str(), r#"{"z":1.50,"a":"x"}"#);
        assert_eq!(params.sync, SyncMode::Phoenix);
        assert_eq!(parse(r#"{"key":"bo"}"#).unwrap().meta.as_str(), "{}");
    }

    #[test]
    fn the_crdt_option_and_its_format_are_read() {
        assert_eq!(
            parse(r#"{"key":"k","sync":"crdt"}"#).unwrap().sync,
            SyncMode::Crdt(SyncFormat::Binary)
        );
        assert_eq!(
            parse(r#"{"key":"k","sync":"crdt","format":"json"}"#)
                .unwrap()
                .sync,
            SyncMode::Crdt(SyncFormat::Json)
        );
        assert!(
            parse(r#"{"key":"k","sync":"crdt","format":"xml"}"#)
                .unwrap_err()
                .contains("unknown sync format")
        );
        assert!(
            parse(r#"{"key":"k","sync":"magic"}"#)
                .unwrap_err()
                .contains("unknown sync option")
        );
    }

    #[test]
    fn duplicate_params_and_params_of_the_wrong_type_are_named() {
        let duplicate = parse(r#"{"key":"a","key":"b"}"#).unwrap_err();
        assert!(duplicate.contains("\"key\" is given twice"), "{duplicate}");
        let format = parse(r#"{"key":"a","sync":"crdt","format":2}"#).unwrap_err();
        assert!(
            format.contains("\"format\" must be \"binary\" or \"json\" (got 2)"),
            "{format}"
        );
        let sync = parse(r#"{"key":"a","sync":true}"#).unwrap_err();
        assert!(sync.contains("\"sync\" must be \"crdt\""), "{sync}");
        // null is the same as leaving a param out.
        assert_eq!(
            parse(r#"{"key":"a","sync":null,"format":null}"#)
                .unwrap()
                .sync,
            SyncMode::Phoenix
        );
    }

    #[test]
    fn joins_without_a_usable_key_are_refused_with_a_reason() {
        assert!(
            parse("{}")
                .unwrap_err()
                .contains("missing join param \"key\"")
        );
        assert!(parse("[]").unwrap_err().contains("must be an object"));
        assert!(parse("null").unwrap_err().contains("must be an object"));
        assert!(
            parse(r#"{"key":5}"#)
                .unwrap_err()
                .contains("must be a string")
        );
        assert!(
            parse(r#"{"key":""}"#)
                .unwrap_err()
                .contains("must not be empty")
        );
    }

    #[test]
    fn bad_and_oversized_metas_are_refused() {
        assert!(
            parse(r#"{"key":"k","meta":[1]}"#)
                .unwrap_err()
                .starts_with("invalid meta")
        );
        assert!(
            parse(r#"{"key":"k","meta":{"phx_ref":"x"}}"#)
                .unwrap_err()
                .starts_with("invalid meta")
        );
        let limits = Limits {
            max_meta_bytes: 16,
            ..Limits::default()
        };
        let text = r#"{"key":"k","meta":{"a":"0123456789abcdef"}}"#;
        assert!(
            JoinParams::parse(&raw(text), &limits)
                .unwrap_err()
                .starts_with("invalid meta")
        );
    }

    #[test]
    fn a_closure_can_replace_the_default_hook() {
        let hook = |request: &JoinRequest<'_>| {
            if request.connect_params.get("token").map(String::as_str) != Some("secret") {
                return Err("bad token".to_owned());
            }
            Ok(JoinGrant {
                key: format!("user-of-{}", request.socket_id),
                meta: Meta::empty(),
                sync: SyncMode::Phoenix,
            })
        };
        let payload = raw("{}");
        let mut connect_params = HashMap::new();
        let limits = Limits::default();
        let request = |params: &HashMap<String, String>| {
            hook.authorize(&JoinRequest {
                topic: "room",
                payload: &payload,
                connect_params: params,
                socket_id: "s1",
                limits: &limits,
            })
        };
        assert_eq!(request(&connect_params).unwrap_err(), "bad token");
        connect_params.insert("token".into(), "secret".into());
        assert_eq!(request(&connect_params).unwrap().key, "user-of-s1");
    }
}
