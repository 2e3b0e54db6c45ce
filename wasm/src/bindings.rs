//! The `#[wasm_bindgen]` surface: a raw class and free functions that forward to
//! [`StateFacade`] and turn [`BindingError`]s into JS errors. The package's JS wrapper is the
//! public API; it parses the JSON results and maps error names to classes.

use wasm_bindgen::prelude::*;

use crate::args;
use crate::compact;
use crate::error::BindingError;
use crate::facade::StateFacade;

type JsResult<T> = Result<T, JsValue>;

fn js<T>(result: Result<T, BindingError>) -> JsResult<T> {
    result.map_err(JsValue::from)
}

/// The raw presence state. Diffs, lists and presences come back in the compact form (see
/// [`crate::compact`]): the call returns the text, `words` then hands over its words. Other
/// results are JSON text; errors carry a `Beryl...Error` name.
#[wasm_bindgen]
pub struct RawPresenceState {
    facade: StateFacade,
    words: compact::PendingWords,
}

#[wasm_bindgen]
impl RawPresenceState {
    /// A state owned by replica `name` with the decimal `incarnation`; `limits` is JSON text
    /// (empty for the defaults).
    #[wasm_bindgen(constructor)]
    pub fn new(name: &str, incarnation: &str, limits: &str) -> JsResult<RawPresenceState> {
        Ok(RawPresenceState {
            facade: js(StateFacade::new(name, incarnation, limits))?,
            words: compact::PendingWords::default(),
        })
    }

    /// The local replica as JSON.
    pub fn replica(&self) -> String {
        self.facade.replica()
    }

    /// Tracks a connection; the counter of the new entry's dot, its `phxRef` being
    /// `refPrefix()` followed by the counter's digits (its diff is one join, which the wrapper
    /// builds from the arguments).
    ///
    /// The four arguments come joined into one string, `topic + key + pid + meta`, with the
    /// first three's lengths (JS string lengths, UTF-16 code units): one copy into wasm memory
    /// instead of four.
    pub fn track(
        &mut self,
        joined: &str,
        topic_len: u32,
        key_len: u32,
        pid_len: u32,
    ) -> JsResult<f64> {
        let [topic, key, pid, meta] = js(args::split_units(joined, [topic_len, key_len, pid_len]))?;
        js(self.facade.track_counter(topic, key, pid, meta))
    }

    /// What every `phxRef` of the local replica starts with (its tag and a dot).
    #[wasm_bindgen(js_name = refPrefix)]
    pub fn ref_prefix(&self) -> String {
        self.facade.local_ref_prefix()
    }

    /// The words of the last compact result (empty once taken).
    pub fn words(&mut self) -> Vec<u32> {
        self.words.take()
    }

    /// Replaces a local entry's meta; the diff (its join carries the new `phxRef`), compact.
    pub fn update(&mut self, topic: &str, key: &str, pid: &str, meta: &str) -> JsResult<String> {
        let diff = js(self.facade.update_diff(topic, key, pid, meta))?;
        Ok(self.words.keep(compact::diff(&diff)))
    }

    /// Stops tracking a local entry; the diff, compact.
    pub fn untrack(&mut self, topic: &str, key: &str, pid: &str) -> String {
        let diff = self.facade.untrack_diff(topic, key, pid);
        self.words.keep(compact::diff(&diff))
    }

    /// Stops tracking every local entry of `pid`; the diff, compact.
    #[wasm_bindgen(js_name = untrackAll)]
    pub fn untrack_all(&mut self, pid: &str) -> String {
        let diff = self.facade.untrack_all_diff(pid);
        self.words.keep(compact::diff(&diff))
    }

    /// A topic's presences grouped by key, compact.
    pub fn list(&mut self, topic: &str) -> String {
        self.words.keep(self.facade.list_compact(topic))
    }

    /// A key's presences in a topic, compact.
    #[wasm_bindgen(js_name = getByKey)]
    pub fn get_by_key(&mut self, topic: &str, key: &str) -> String {
        self.words.keep(self.facade.get_by_key_compact(topic, key))
    }

    /// Topics with a visible presence, sorted, as JSON.
    pub fn topics(&self) -> String {
        self.facade.topics()
    }

    /// How many presences are visible.
    pub fn size(&self) -> f64 {
        self.facade.state().len() as f64
    }

    /// How many presences of `topic` are visible.
    #[wasm_bindgen(js_name = topicSize)]
    pub fn topic_size(&self, topic: &str) -> f64 {
        self.facade.state().topic_len(topic) as f64
    }

    /// The highest counter the local replica has used.
    #[wasm_bindgen(js_name = localCounter)]
    pub fn local_counter(&self) -> f64 {
        self.facade.local_counter()
    }

    /// Marks a replica down; the diff, compact.
    #[wasm_bindgen(js_name = replicaDown)]
    pub fn replica_down(&mut self, name: &str, incarnation: &str) -> JsResult<String> {
        let diff = js(self.facade.replica_down_diff(name, incarnation))?;
        Ok(self.words.keep(compact::diff(&diff)))
    }

    /// Marks a replica up; the diff, compact.
    #[wasm_bindgen(js_name = replicaUp)]
    pub fn replica_up(&mut self, name: &str, incarnation: &str) -> JsResult<String> {
        let diff = js(self.facade.replica_up_diff(name, incarnation))?;
        Ok(self.words.keep(compact::diff(&diff)))
    }

    /// Removes a replica for good; the diff, compact.
    #[wasm_bindgen(js_name = removeReplica)]
    pub fn remove_replica(&mut self, name: &str, incarnation: &str) -> JsResult<String> {
        let diff = js(self.facade.remove_replica_diff(name, incarnation))?;
        Ok(self.words.keep(compact::diff(&diff)))
    }

    /// A replica's status name, or undefined.
    #[wasm_bindgen(js_name = replicaStatus)]
    pub fn replica_status(&self, name: &str, incarnation: &str) -> JsResult<Option<String>> {
        js(self.facade.replica_status(name, incarnation))
    }

    /// Every known replica with its status, as JSON.
    pub fn replicas(&self) -> String {
        self.facade.replicas()
    }

    /// Decodes and applies a binary replication message; the diff, compact.
    #[wasm_bindgen(js_name = mergeBinary)]
    pub fn merge_binary(&mut self, bytes: &[u8]) -> JsResult<String> {
        let diff = js(self.facade.merge_binary_compact(bytes))?;
        Ok(self.words.keep(diff))
    }

    /// Decodes and applies a JSON replication message; the diff, compact.
    #[wasm_bindgen(js_name = mergeJson)]
    pub fn merge_json(&mut self, text: &str) -> JsResult<String> {
        let diff = js(self.facade.merge_json_compact(text))?;
        Ok(self.words.keep(diff))
    }

    /// The local changes since the last call as a delta message, or undefined if none.
    #[wasm_bindgen(js_name = takeDelta)]
    pub fn take_delta(&mut self, json: bool) -> JsValue {
        match self.facade.take_delta() {
            Some(message) => encode(&message, json),
            None => JsValue::UNDEFINED,
        }
    }

    /// The local replica's changes after counter `after` as a delta message.
    #[wasm_bindgen(js_name = localDeltaSince)]
    pub fn local_delta_since(&self, json: bool, after: f64) -> JsResult<JsValue> {
        let after = js(args::counter("after", after))?;
        Ok(encode(&self.facade.local_delta_since(after), json))
    }

    /// A liveness verdict about a replica, for client replicas.
    pub fn liveness(
        &self,
        json: bool,
        name: &str,
        incarnation: &str,
        status: &str,
    ) -> JsResult<JsValue> {
        let replica = js(args::replica(name, incarnation))?;
        let message = js(self.facade.liveness(replica, status))?;
        Ok(encode(&message, json))
    }

    /// Everything this replica shares as a delta message, leaving out the optional peer's own.
    #[wasm_bindgen(js_name = fullState)]
    pub fn full_state(
        &self,
        json: bool,
        to_name: Option<String>,
        to_incarnation: Option<String>,
    ) -> JsResult<JsValue> {
        let to = js(StateFacade::optional_replica(to_name, to_incarnation))?;
        Ok(encode(&self.facade.full_state(to.as_ref()), json))
    }

    /// A heartbeat message carrying this replica's digest.
    pub fn heartbeat(&self, json: bool) -> JsValue {
        encode(&self.facade.heartbeat(), json)
    }

    /// A state request to the replica `to`.
    #[wasm_bindgen(js_name = stateRequest)]
    pub fn state_request(&self, json: bool, name: &str, incarnation: &str) -> JsResult<JsValue> {
        let to = js(args::replica(name, incarnation))?;
        Ok(encode(&self.facade.state_request(to), json))
    }

    /// A goodbye message.
    pub fn goodbye(&self, json: bool) -> JsValue {
        encode(&self.facade.goodbye(), json)
    }

    /// The reply a binary message calls for (in binary), or undefined.
    #[wasm_bindgen(js_name = answerBinary)]
    pub fn answer_binary(&self, bytes: &[u8]) -> JsResult<JsValue> {
        let message = js(self.facade.decode_binary(bytes))?;
        Ok(self
            .facade
            .answer(&message)
            .map_or(JsValue::UNDEFINED, |reply| encode(&reply, false)))
    }

    /// The reply a JSON message calls for (in JSON), or undefined.
    #[wasm_bindgen(js_name = answerJson)]
    pub fn answer_json(&self, text: &str) -> JsResult<JsValue> {
        let message = js(self.facade.decode_json(text))?;
        Ok(self
            .facade
            .answer(&message)
            .map_or(JsValue::UNDEFINED, |reply| encode(&reply, true)))
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

/// A message as a `Uint8Array` (binary) or a string (JSON).
fn encode(message: &beryl_core::Message, json: bool) -> JsValue {
    if json {
        JsValue::from_str(&beryl_core::wire::encode_json(message))
    } else {
        js_sys::Uint8Array::from(beryl_core::wire::encode_binary(message).as_slice()).into()
    }
}

/// The decimal incarnation for a start time in Unix milliseconds and 16 random bits.
#[wasm_bindgen(js_name = incarnationFromParts)]
pub fn incarnation_from_parts(unix_millis: f64, random: f64) -> JsResult<String> {
    js(args::incarnation_from_parts(unix_millis, random)).map(|value| value.to_string())
}
