//! The replication engine of `beryl-core` ([`SyncEngine`]) for JS hosts: [`SyncFacade`] drives
//! it with JSON-text results and typed errors (and runs natively, for tests), and
//! [`RawSyncEngine`] is the `#[wasm_bindgen]` class over it.
//!
//! The engine is sans-I/O: the host passes the time (milliseconds as a JS number) to every call
//! that needs it, carries the messages [`poll_transmit`](SyncFacade::poll_transmit) hands out,
//! and feeds what arrives to [`receive`](SyncFacade::receive). Nothing here reads a clock, draws
//! a random number or calls back into JS, so a JS handler of one event may call the engine
//! again without a re-entrant borrow.

use std::collections::VecDeque;

use beryl_core::sync::{Destination, Event, SyncConfig, SyncEngine};
use beryl_core::wire::{self, WireLimits};
use beryl_core::{Message, Meta, PresenceState, ReplicaStatus};
use wasm_bindgen::prelude::*;

use crate::args;
use crate::compact;
use crate::error::BindingError;
use crate::json;

/// Parses engine settings given as JSON text (`{"broadcastIntervalMs": 500, ...}`; empty for the
/// defaults) and checks that they work together.
pub fn config(text: &str) -> Result<SyncConfig, BindingError> {
    let defaults = SyncConfig::default();
    let config = if args::is_blank(text) {
        defaults
    } else {
        let refused = |reason: String| {
            BindingError::argument(format!(
                "config must be an object with optional non-negative integer fields \
                 broadcastIntervalMs, heartbeatEvery, downPeriodMs, permanentDownPeriodMs, \
                 repairBackoffMs, catchUpLimit and repairRangeLimit: {reason}"
            ))
        };
        let fields = args::integer_fields(
            text,
            [
                "broadcastIntervalMs",
                "heartbeatEvery",
                "downPeriodMs",
                "permanentDownPeriodMs",
                "repairBackoffMs",
                "catchUpLimit",
                "repairRangeLimit",
            ],
        )
        .map_err(|error| refused(error.to_string()))?;
        let [
            broadcast,
            heartbeat,
            down,
            permanent,
            backoff,
            catch_up,
            repair_range,
        ] = fields;
        let heartbeat_every = args::narrow::<u32>(heartbeat, "heartbeatEvery").map_err(refused)?;
        let repair_range_limit =
            args::narrow::<usize>(repair_range, "repairRangeLimit").map_err(refused)?;
        SyncConfig {
            broadcast_interval_ms: broadcast.unwrap_or(defaults.broadcast_interval_ms),
            heartbeat_every: heartbeat_every.unwrap_or(defaults.heartbeat_every),
            down_period_ms: down.unwrap_or(defaults.down_period_ms),
            permanent_down_period_ms: permanent.unwrap_or(defaults.permanent_down_period_ms),
            forget_removed_after_ms: defaults.forget_removed_after_ms,
            repair_backoff_ms: backoff.unwrap_or(defaults.repair_backoff_ms),
            catch_up_limit: catch_up.unwrap_or(defaults.catch_up_limit),
            repair_range_limit: repair_range_limit.unwrap_or(defaults.repair_range_limit),
            // `Event::Applied` feeds client replicas of a server; this host has none.
            report_applied: false,
        }
    };
    config
        .validate()
        .map_err(|error| BindingError::argument(error.to_string()))?;
    Ok(config)
}

/// A message the engine wants sent: to every peer (`to` is `None`) or to one replica's name.
#[derive(Debug)]
pub struct Outgoing {
    /// The name of the recipient replica; `None` for a broadcast.
    pub to: Option<String>,
    /// The message, to encode in the format the host asks for.
    pub message: Message,
}

/// A [`SyncEngine`] driven through JSON-text results.
pub struct SyncFacade {
    engine: SyncEngine,
    wire_limits: WireLimits,
    /// Events taken from the engine and not yet polled. Taken after every call, so that
    /// `track` and friends can return the diff they caused and still leave it to be polled.
    events: VecDeque<Event>,
}

impl SyncFacade {
    /// An engine for the replica `name` with the decimal `incarnation`, `config` and `limits`
    /// as JSON text (empty for the defaults), started at `now` (milliseconds).
    pub fn new(
        name: &str,
        incarnation: &str,
        config: &str,
        limits: &str,
        now: f64,
    ) -> Result<Self, BindingError> {
        let replica = args::replica(name, incarnation)?;
        let config = self::config(config)?;
        let limits = args::limits(limits)?;
        let now = time(now)?;
        let wire_limits = WireLimits::for_presence(limits.clone());
        let state = PresenceState::with_limits(replica, limits);
        let engine = SyncEngine::with_state(state, config, now)
            .map_err(|error| BindingError::argument(error.to_string()))?;
        let mut facade = SyncFacade {
            engine,
            wire_limits,
            events: VecDeque::new(),
        };
        facade.take_events();
        Ok(facade)
    }

    /// The wrapped engine.
    pub fn engine(&self) -> &SyncEngine {
        &self.engine
    }

    fn take_events(&mut self) {
        while let Some(event) = self.engine.poll_event() {
            self.events.push_back(event);
        }
    }

    /// Takes the engine's new events and returns, as JSON, the diff among them (a local change
    /// reports exactly one), or an empty diff.
    fn local_diff(&mut self) -> String {
        let before = self.events.len();
        self.take_events();
        self.events
            .iter()
            .skip(before)
            .find_map(|event| match event {
                Event::Diff(diff) => Some(json::diff(diff)),
                _ => None,
            })
            .unwrap_or_else(|| json::diff(&beryl_core::Diff::new()))
    }

    fn meta(&self, meta: &str) -> Result<Meta, BindingError> {
        Ok(Meta::from_json_within(meta, self.engine.state().limits())?)
    }

    /// Tracks a local connection; the diff as JSON (its one join carries the new `phxRef`).
    pub fn track(
        &mut self,
        topic: &str,
        key: &str,
        pid: &str,
        meta: &str,
    ) -> Result<String, BindingError> {
        let meta = self.meta(meta)?;
        self.engine.track(topic, key, pid, &meta)?;
        Ok(self.local_diff())
    }

    /// Replaces a local entry's meta; the diff as JSON (its join carries the new `phxRef`).
    pub fn update(
        &mut self,
        topic: &str,
        key: &str,
        pid: &str,
        meta: &str,
    ) -> Result<String, BindingError> {
        let meta = self.meta(meta)?;
        self.engine.update(topic, key, pid, &meta)?;
        Ok(self.local_diff())
    }

    /// Stops tracking a local entry (an empty diff when it is not tracked).
    pub fn untrack(&mut self, topic: &str, key: &str, pid: &str) -> String {
        self.engine.untrack(topic, key, pid);
        self.local_diff()
    }

    /// Stops tracking every local entry of `pid`.
    pub fn untrack_all(&mut self, pid: &str) -> String {
        self.engine.untrack_all(pid);
        self.local_diff()
    }

    /// Advances the engine's clock to `now` (milliseconds).
    pub fn tick(&mut self, now: f64) -> Result<(), BindingError> {
        let now = time(now)?;
        self.engine.tick(now);
        self.take_events();
        Ok(())
    }

    /// Handles a message that arrived at `now`. A message that does not decode is refused and
    /// changes nothing.
    pub fn receive(&mut self, now: f64, message: Message) -> Result<(), BindingError> {
        let now = time(now)?;
        self.engine.receive(now, message);
        self.take_events();
        Ok(())
    }

    /// Decodes a binary replication message with this engine's limits.
    pub fn decode_binary(&self, bytes: &[u8]) -> Result<Message, BindingError> {
        wire::decode_binary(bytes, &self.wire_limits).map_err(|error| BindingError::decode(&error))
    }

    /// Decodes a JSON replication message with this engine's limits.
    pub fn decode_json(&self, text: &str) -> Result<Message, BindingError> {
        wire::decode_json(text, &self.wire_limits).map_err(|error| BindingError::decode(&error))
    }

    /// Leaves gracefully: a goodbye goes out, and ticks and messages are ignored afterwards.
    pub fn stop(&mut self) {
        self.engine.stop();
        self.take_events();
    }

    /// Whether [`stop`](Self::stop) was called.
    pub fn is_stopped(&self) -> bool {
        self.engine.is_stopped()
    }

    /// When `tick` must be called next, in milliseconds; `None` once stopped.
    pub fn next_timeout(&self) -> Option<f64> {
        // Times come in below 2^53, so the next deadline is at most one interval past that.
        self.engine.next_timeout().map(|ms| ms as f64)
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Outgoing> {
        let transmit = self.engine.poll_transmit()?;
        let to = match transmit.destination {
            Destination::Broadcast => None,
            Destination::Replica(replica) => Some(replica.name().to_owned()),
        };
        Some(Outgoing {
            to,
            message: transmit.message,
        })
    }

    /// The next event as JSON: `{"type":"diff","diff":{...}}` or
    /// `{"type":"peer","replica":{...},"status":"up"|"down"|"removed"}`.
    pub fn poll_event(&mut self) -> Option<String> {
        loop {
            match self.events.pop_front()? {
                Event::Diff(diff) => {
                    let mut out = String::from("{\"type\":\"diff\",\"diff\":");
                    out.push_str(&json::diff(&diff));
                    out.push('}');
                    return Some(out);
                }
                Event::Liveness { replica, status } => {
                    let mut out = String::from("{\"type\":\"peer\",\"replica\":");
                    json::write_replica(&mut out, &replica);
                    out.push_str(",\"status\":\"");
                    out.push_str(json::status_name(status));
                    out.push_str("\"}");
                    return Some(out);
                }
                // Never reported: `report_applied` is off.
                Event::Applied(_) => {}
            }
        }
    }

    /// The peers known, as `[{"replica":{...},"down":false,"lastHeard":1234}, ...]`.
    pub fn peers(&mut self) -> String {
        let mut out = String::from("[");
        for (index, peer) in self.engine.peers().iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            out.push_str("{\"replica\":");
            json::write_replica(&mut out, &peer.replica);
            out.push_str(if peer.down {
                ",\"down\":true"
            } else {
                ",\"down\":false"
            });
            out.push_str(",\"lastHeard\":");
            out.push_str(&peer.last_heard.to_string());
            out.push('}');
        }
        out.push(']');
        out
    }

    /// `{"name":...,"incarnation":"..."}` of the local replica.
    pub fn replica(&self) -> String {
        let mut out = String::new();
        json::write_replica(&mut out, self.engine.replica());
        out
    }

    /// The visible presences of `topic`, grouped by key.
    pub fn list(&self, topic: &str) -> String {
        json::list(&self.engine.state().list(topic))
    }

    /// The visible presences of `key` in `topic`.
    pub fn get_by_key(&self, topic: &str, key: &str) -> String {
        json::presences(&self.engine.state().get_by_key(topic, key))
    }

    /// The visible presences of `topic`, grouped by key, in the compact form.
    pub fn list_compact(&self, topic: &str) -> (String, Vec<u32>) {
        compact::list(&self.engine.state().list(topic))
    }

    /// The visible presences of `key` in `topic`, in the compact form.
    pub fn get_by_key_compact(&self, topic: &str, key: &str) -> (String, Vec<u32>) {
        compact::presences(&self.engine.state().get_by_key(topic, key))
    }

    /// Topics with a visible presence, sorted.
    pub fn topics(&self) -> String {
        let mut topics = self.engine.state().topics();
        topics.sort_unstable();
        json::strings(topics.iter().map(|topic| &**topic))
    }

    /// Every known replica with its status.
    pub fn replicas(&self) -> String {
        json::replicas(&self.engine.state().replicas())
    }

    /// What the state believes about a replica: `"up"`, `"down"`, `"removed"` or `None`.
    pub fn replica_status(
        &self,
        name: &str,
        incarnation: &str,
    ) -> Result<Option<ReplicaStatus>, BindingError> {
        let replica = args::replica(name, incarnation)?;
        Ok(self.engine.state().replica_status(&replica))
    }

    /// The Phoenix `presence_state` payload of `topic`.
    pub fn presence_state(&self, topic: &str) -> String {
        wire::phoenix::presence_state(self.engine.state(), topic)
    }

    /// The Phoenix `presence_diff` payload of `topic` for a diff (or array of diffs) given as
    /// the JSON this package produced.
    pub fn encode_diff(&self, diff_json: &str, topic: &str) -> Result<String, BindingError> {
        let diff = crate::messages::parse_diff(diff_json, self.engine.state().limits())?;
        Ok(wire::phoenix::encode_diff(&diff, topic))
    }
}

/// A time in milliseconds given as a JS number.
fn time(now: f64) -> Result<u64, BindingError> {
    args::counter("now (a time in milliseconds)", now)
}

type JsResult<T> = Result<T, JsValue>;

fn js<T>(result: Result<T, BindingError>) -> JsResult<T> {
    result.map_err(JsValue::from)
}

/// The raw replication engine. Methods return JSON text; errors carry a `Beryl...Error` name.
#[wasm_bindgen]
pub struct RawSyncEngine {
    facade: SyncFacade,
    /// The words of the last compact result, until `words` takes them.
    words: compact::PendingWords,
}

#[wasm_bindgen]
impl RawSyncEngine {
    /// An engine for replica `name` with the decimal `incarnation`; `config` and `limits` are
    /// JSON text (empty for the defaults); `now` is the time in milliseconds.
    #[wasm_bindgen(constructor)]
    pub fn new(
        name: &str,
        incarnation: &str,
        config: &str,
        limits: &str,
        now: f64,
    ) -> JsResult<RawSyncEngine> {
        Ok(RawSyncEngine {
            facade: js(SyncFacade::new(name, incarnation, config, limits, now))?,
            words: compact::PendingWords::default(),
        })
    }

    /// The local replica as JSON.
    pub fn replica(&self) -> String {
        self.facade.replica()
    }

    /// Tracks a connection; the diff as JSON.
    pub fn track(&mut self, topic: &str, key: &str, pid: &str, meta: &str) -> JsResult<String> {
        js(self.facade.track(topic, key, pid, meta))
    }

    /// Replaces a local entry's meta; the diff as JSON.
    pub fn update(&mut self, topic: &str, key: &str, pid: &str, meta: &str) -> JsResult<String> {
        js(self.facade.update(topic, key, pid, meta))
    }

    /// Stops tracking a local entry; the diff as JSON.
    pub fn untrack(&mut self, topic: &str, key: &str, pid: &str) -> String {
        self.facade.untrack(topic, key, pid)
    }

    /// Stops tracking every local entry of `pid`; the diff as JSON.
    #[wasm_bindgen(js_name = untrackAll)]
    pub fn untrack_all(&mut self, pid: &str) -> String {
        self.facade.untrack_all(pid)
    }

    /// Advances the clock to `now` (milliseconds).
    pub fn tick(&mut self, now: f64) -> JsResult<()> {
        js(self.facade.tick(now))
    }

    /// Decodes and handles a binary message that arrived at `now`.
    #[wasm_bindgen(js_name = receiveBinary)]
    pub fn receive_binary(&mut self, now: f64, bytes: &[u8]) -> JsResult<()> {
        let message = js(self.facade.decode_binary(bytes))?;
        js(self.facade.receive(now, message))
    }

    /// Decodes and handles a JSON message that arrived at `now`.
    #[wasm_bindgen(js_name = receiveJson)]
    pub fn receive_json(&mut self, now: f64, text: &str) -> JsResult<()> {
        let message = js(self.facade.decode_json(text))?;
        js(self.facade.receive(now, message))
    }

    /// The next message to send as `[to, message]` (`to` undefined for a broadcast; the message
    /// a `Uint8Array`, or a string when `json`), or undefined when none is pending.
    #[wasm_bindgen(js_name = pollTransmit)]
    pub fn poll_transmit(&mut self, json: bool) -> JsValue {
        let Some(outgoing) = self.facade.poll_transmit() else {
            return JsValue::UNDEFINED;
        };
        let to = outgoing
            .to
            .map_or(JsValue::NULL, |name| JsValue::from_str(&name));
        let message = if json {
            JsValue::from_str(&wire::encode_json(&outgoing.message))
        } else {
            js_sys::Uint8Array::from(wire::encode_binary(&outgoing.message).as_slice()).into()
        };
        js_sys::Array::of2(&to, &message).into()
    }

    /// The next event as JSON, or undefined.
    #[wasm_bindgen(js_name = pollEvent)]
    pub fn poll_event(&mut self) -> Option<String> {
        self.facade.poll_event()
    }

    /// When `tick` is due next (milliseconds), or undefined once stopped.
    #[wasm_bindgen(js_name = nextTimeout)]
    pub fn next_timeout(&self) -> Option<f64> {
        self.facade.next_timeout()
    }

    /// Leaves gracefully (a goodbye is queued).
    pub fn stop(&mut self) {
        self.facade.stop();
    }

    /// Whether `stop` was called.
    #[wasm_bindgen(js_name = isStopped)]
    pub fn is_stopped(&self) -> bool {
        self.facade.is_stopped()
    }

    /// The known peers as JSON.
    pub fn peers(&mut self) -> String {
        self.facade.peers()
    }

    /// A topic's presences grouped by key, compact (its words from `words`).
    pub fn list(&mut self, topic: &str) -> String {
        self.words.keep(self.facade.list_compact(topic))
    }

    /// A key's presences in a topic, compact (its words from `words`).
    #[wasm_bindgen(js_name = getByKey)]
    pub fn get_by_key(&mut self, topic: &str, key: &str) -> String {
        self.words.keep(self.facade.get_by_key_compact(topic, key))
    }

    /// The words of the last compact result (empty once taken).
    pub fn words(&mut self) -> Vec<u32> {
        self.words.take()
    }

    /// Topics with a visible presence, sorted, as JSON.
    pub fn topics(&self) -> String {
        self.facade.topics()
    }

    /// How many presences are visible.
    pub fn size(&self) -> f64 {
        self.facade.engine().state().len() as f64
    }

    /// How many presences of `topic` are visible.
    #[wasm_bindgen(js_name = topicSize)]
    pub fn topic_size(&self, topic: &str) -> f64 {
        self.facade.engine().state().topic_len(topic) as f64
    }

    /// Every known replica with its status, as JSON.
    pub fn replicas(&self) -> String {
        self.facade.replicas()
    }

    /// A replica's status name, or undefined.
    #[wasm_bindgen(js_name = replicaStatus)]
    pub fn replica_status(&self, name: &str, incarnation: &str) -> JsResult<Option<String>> {
        Ok(js(self.facade.replica_status(name, incarnation))?
            .map(|status| json::status_name(status).to_owned()))
    }

    /// The Phoenix `presence_state` payload of `topic`.
    #[wasm_bindgen(js_name = presenceState)]
    pub fn presence_state(&self, topic: &str) -> String {
        self.facade.presence_state(topic)
    }

    /// The Phoenix `presence_diff` payload of `topic` for a diff given as JSON.
    #[wasm_bindgen(js_name = encodeDiff)]
    pub fn encode_diff(&self, diff_json: &str, topic: &str) -> JsResult<String> {
        js(self.facade.encode_diff(diff_json, topic))
    }
}
