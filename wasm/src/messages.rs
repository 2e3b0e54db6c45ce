//! Replication messages and Phoenix payloads for the facade: merging what peers send, building
//! what to send them, and encoding diffs for Phoenix clients. The codecs are `beryl_core::wire`.

use std::borrow::Cow;
use std::sync::Arc;

use beryl_core::json::{JsonError, Kind, Reader};
use beryl_core::wire::{self, WireLimits};
use beryl_core::{Diff, Dot, Entry, Message, Meta, Presence, ReplicaId, ReplicaStatus};

use crate::args;
use crate::compact;
use crate::error::BindingError;
use crate::facade::StateFacade;
use crate::json;

impl StateFacade {
    /// The decoder limits: the defaults, with this state's presence limits.
    pub fn wire_limits(&self) -> WireLimits {
        WireLimits::for_presence(self.state().limits().clone())
    }

    /// Decodes a binary replication message.
    pub fn decode_binary(&self, bytes: &[u8]) -> Result<Message, BindingError> {
        wire::decode_binary(bytes, &self.wire_limits())
            .map_err(|error| BindingError::decode(&error))
    }

    /// Decodes a JSON replication message.
    pub fn decode_json(&self, text: &str) -> Result<Message, BindingError> {
        wire::decode_json(text, &self.wire_limits()).map_err(|error| BindingError::decode(&error))
    }

    /// Applies what a message from a peer carries and returns what became visible or not.
    ///
    /// Deltas and state replies are merged; a goodbye removes its sender for good; a liveness
    /// verdict (sent by the server feeding a client replica) is applied as it is. Heartbeats and
    /// state requests carry no presences: they change nothing here (see [`Self::answer`]).
    /// Verdicts about this state's own replica are ignored.
    pub fn apply(&mut self, message: Message) -> Diff {
        let state = self.state_mut();
        let verdict = match message {
            Message::Delta { delta, .. } | Message::StateReply { delta, .. } => {
                return state.merge(delta);
            }
            Message::Heartbeat { .. } | Message::StateRequest { .. } => return Diff::new(),
            Message::Goodbye { from } => state.remove_replica(&from),
            Message::Liveness {
                replica, status, ..
            } => match status {
                ReplicaStatus::Up => state.replica_up(&replica),
                ReplicaStatus::Down => state.replica_down(&replica),
                ReplicaStatus::Removed => state.remove_replica(&replica),
            },
        };
        verdict.unwrap_or_default()
    }

    /// Decodes and applies a binary message; the diff as JSON.
    pub fn merge_binary(&mut self, bytes: &[u8]) -> Result<String, BindingError> {
        let message = self.decode_binary(bytes)?;
        Ok(json::diff(&self.apply(message)))
    }

    /// Decodes and applies a binary message; the diff in the compact form.
    pub fn merge_binary_compact(
        &mut self,
        bytes: &[u8],
    ) -> Result<(String, Vec<u32>), BindingError> {
        let message = self.decode_binary(bytes)?;
        Ok(compact::diff(&self.apply(message)))
    }

    /// Decodes and applies a JSON message; the diff as JSON.
    pub fn merge_json(&mut self, text: &str) -> Result<String, BindingError> {
        let message = self.decode_json(text)?;
        Ok(json::diff(&self.apply(message)))
    }

    /// Decodes and applies a JSON message; the diff in the compact form.
    pub fn merge_json_compact(&mut self, text: &str) -> Result<(String, Vec<u32>), BindingError> {
        let message = self.decode_json(text)?;
        Ok(compact::diff(&self.apply(message)))
    }

    /// The local changes not yet taken, as a delta message, and forgets them; `None` when
    /// nothing changed since the last call.
    pub fn take_delta(&mut self) -> Option<Message> {
        let delta = self.take_pending()?;
        Some(Message::Delta {
            from: self.state().replica().clone(),
            delta,
        })
    }

    /// The local replica's changes after its counter `after`, as a delta message (entries
    /// removed since are not in it: removals travel in the deltas of [`Self::take_delta`]).
    pub fn local_delta_since(&self, after: u64) -> Message {
        Message::Delta {
            from: self.state().replica().clone(),
            delta: self.state().local_delta_since(after),
        }
    }

    /// A liveness verdict about `replica`, for the client replicas this one feeds.
    pub fn liveness(&self, replica: ReplicaId, status: &str) -> Result<Message, BindingError> {
        let status = match status {
            "up" => ReplicaStatus::Up,
            "down" => ReplicaStatus::Down,
            "removed" => ReplicaStatus::Removed,
            other => {
                return Err(BindingError::argument(format!(
                    "status must be \"up\", \"down\" or \"removed\", got {other:?}"
                )));
            }
        };
        Ok(Message::Liveness {
            from: self.state().replica().clone(),
            replica,
            status,
        })
    }

    /// Everything this replica shares, as a delta message (leaving out `to`'s own entries).
    pub fn full_state(&self, to: Option<&ReplicaId>) -> Message {
        Message::Delta {
            from: self.state().replica().clone(),
            delta: self.state().full_state(to),
        }
    }

    /// A heartbeat carrying this replica's digest.
    pub fn heartbeat(&self) -> Message {
        Message::Heartbeat {
            from: self.state().replica().clone(),
            digest: self.state().digest(),
        }
    }

    /// A request to `to` for what this replica is missing.
    pub fn state_request(&self, to: ReplicaId) -> Message {
        Message::StateRequest {
            from: self.state().replica().clone(),
            to,
            digest: self.state().digest(),
        }
    }

    /// A goodbye: peers remove this replica's presences at once.
    pub fn goodbye(&self) -> Message {
        Message::Goodbye {
            from: self.state().replica().clone(),
        }
    }

    /// The reply a message calls for: a state reply to a state request addressed to this
    /// replica, `None` for anything else.
    pub fn answer(&self, message: &Message) -> Option<Message> {
        match message {
            Message::StateRequest { from, to, digest } if to == self.state().replica() => {
                Some(Message::StateReply {
                    from: self.state().replica().clone(),
                    to: from.clone(),
                    delta: self.state().delta_since(digest, Some(from)),
                })
            }
            _ => None,
        }
    }

    /// The Phoenix `presence_state` payload of `topic`.
    pub fn presence_state(&self, topic: &str) -> String {
        wire::phoenix::presence_state(self.state(), topic)
    }

    /// The Phoenix `presence_diff` payload of `topic` for a diff given as the JSON this package
    /// produced (or the same shape with metas re-serialised), or for a JSON array of such diffs
    /// taken one after the other.
    pub fn encode_diff(&self, diff_json: &str, topic: &str) -> Result<String, BindingError> {
        let diff = parse_diff(diff_json, self.state().limits())?;
        Ok(wire::phoenix::encode_diff(&diff, topic))
    }
}

struct PresenceInput<'a> {
    topic: Cow<'a, str>,
    key: Cow<'a, str>,
    pid: Cow<'a, str>,
    /// The meta's exact text.
    meta: &'a str,
    phx_ref: Cow<'a, str>,
    phx_ref_prev: Option<Cow<'a, str>>,
    replica: (Cow<'a, str>, Cow<'a, str>),
}

/// Reads one diff's presences, the joins and the leaves (other fields are ignored).
fn read_diff<'a>(
    reader: &mut Reader<'a>,
) -> Result<(Vec<PresenceInput<'a>>, Vec<PresenceInput<'a>>), JsonError> {
    let [joins, leaves] = reader.values(&["joins", "leaves"], true, |reader| {
        reader.list(read_presence)
    })?;
    Ok((
        reader.required(joins, "joins")?,
        reader.required(leaves, "leaves")?,
    ))
}

fn read_presence<'a>(reader: &mut Reader<'a>) -> Result<PresenceInput<'a>, JsonError> {
    let (mut topic, mut key, mut pid, mut meta) = (None, None, None, None);
    let (mut phx_ref, mut phx_ref_prev, mut replica) = (None, None, None);
    const NAMES: &[&str] = &[
        "topic",
        "key",
        "pid",
        "meta",
        "phxRef",
        "phxRefPrev",
        "replica",
    ];
    reader.fields(NAMES, true, |reader, index| {
        match index {
            0 => topic = Some(reader.string()?),
            1 => key = Some(reader.string()?),
            2 => pid = Some(reader.string()?),
            // Checked as a meta when the presence is built.
            3 => meta = Some(reader.skip(usize::MAX)?),
            4 => phx_ref = Some(reader.string()?),
            5 => phx_ref_prev = reader.optional(Reader::string)?,
            _ => replica = Some(read_replica(reader)?),
        }
        Ok(())
    })?;
    Ok(PresenceInput {
        topic: reader.required(topic, "topic")?,
        key: reader.required(key, "key")?,
        pid: reader.required(pid, "pid")?,
        meta: reader.required(meta, "meta")?,
        phx_ref: reader.required(phx_ref, "phxRef")?,
        phx_ref_prev,
        replica: reader.required(replica, "replica")?,
    })
}

fn read_replica<'a>(reader: &mut Reader<'a>) -> Result<(Cow<'a, str>, Cow<'a, str>), JsonError> {
    let [name, incarnation] = reader.values(&["name", "incarnation"], true, Reader::string)?;
    Ok((
        reader.required(name, "name")?,
        reader.required(incarnation, "incarnation")?,
    ))
}

fn not_a_diff(reason: impl std::fmt::Display) -> BindingError {
    BindingError::argument(format!(
        "not a diff of this package ({reason}); pass a diff returned by a PresenceState"
    ))
}

/// The counter a ref names, checked against the replica: refs derive from dots, so a ref that
/// does not match its replica was edited or belongs to another presence.
fn counter_of(replica: &ReplicaId, phx_ref: &str) -> Result<u64, BindingError> {
    let counter = phx_ref
        .rsplit_once('.')
        .and_then(|(_, digits)| digits.parse::<u64>().ok())
        .filter(|&counter| counter > 0)
        .ok_or_else(|| not_a_diff(format!("{phx_ref:?} is not a phx_ref")))?;
    if Dot::new(replica.clone(), counter).phx_ref().as_str() != phx_ref {
        return Err(not_a_diff(format!(
            "phx_ref {phx_ref:?} does not belong to replica {replica}"
        )));
    }
    Ok(counter)
}

fn presence(
    input: &PresenceInput<'_>,
    limits: &beryl_core::Limits,
) -> Result<Presence, BindingError> {
    let replica = args::replica(&input.replica.0, &input.replica.1)?;
    let counter = counter_of(&replica, &input.phx_ref)?;
    let replaces = match &input.phx_ref_prev {
        Some(previous) => Some(counter_of(&replica, previous)?),
        None => None,
    };
    let meta = Meta::from_json_within(input.meta, limits)?;
    let entry = Entry::new(
        Arc::from(&*input.topic),
        &input.key,
        &input.pid,
        &meta,
        replaces,
        limits,
    )?;
    Ok(Presence::new(Dot::new(replica, counter), entry))
}

/// Rebuilds a core diff from its JSON form, or from an array of diffs (concatenated in order).
pub fn parse_diff(text: &str, limits: &beryl_core::Limits) -> Result<Diff, BindingError> {
    let not_json = |error: JsonError| not_a_diff(error);
    let mut reader = Reader::new(text);
    let parts = if reader.peek().map_err(not_json)? == Kind::Array {
        reader.list(read_diff)
    } else {
        read_diff(&mut reader).map(|part| vec![part])
    }
    .map_err(not_json)?;
    reader.finish().map_err(not_json)?;
    let mut diff = Diff::new();
    for (joins, leaves) in &parts {
        for join in joins {
            diff.push_join(presence(join, limits)?);
        }
        for leave in leaves {
            diff.push_leave(presence(leave, limits)?);
        }
    }
    Ok(diff)
}
