//! The `#[wasm_bindgen]` surface: a raw class and free functions that forward to
//! [`StateFacade`] and turn [`BindingError`]s into JS errors. The package's JS wrapper is the
//! public API; it parses the JSON results and maps error names to classes.

use wasm_bindgen::prelude::*;

use crate::args;
use crate::error::BindingError;
use crate::facade::StateFacade;

type JsResult<T> = Result<T, JsValue>;

fn js<T>(result: Result<T, BindingError>) -> JsResult<T> {
    result.map_err(JsValue::from)
}

/// The raw presence state. Methods return JSON text; errors carry a `Beryl...Error` name.
#[wasm_bindgen]
pub struct RawPresenceState {
    facade: StateFacade,
}

#[wasm_bindgen]
impl RawPresenceState {
    /// A state owned by replica `name` with the decimal `incarnation`; `limits` is JSON text
    /// (empty for the defaults).
    #[wasm_bindgen(constructor)]
    pub fn new(name: &str, incarnation: &str, limits: &str) -> JsResult<RawPresenceState> {
        Ok(RawPresenceState {
            facade: js(StateFacade::new(name, incarnation, limits))?,
        })
    }

    /// The local replica as JSON.
    pub fn replica(&self) -> String {
        self.facade.replica()
    }

    /// Tracks a connection; `{"phxRef","diff"}` as JSON.
    pub fn track(&mut self, topic: &str, key: &str, pid: &str, meta: &str) -> JsResult<String> {
        js(self.facade.track(topic, key, pid, meta))
    }

    /// Replaces a local entry's meta; `{"phxRef","diff"}` as JSON.
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

    /// A topic's presences grouped by key, as JSON.
    pub fn list(&self, topic: &str) -> String {
        self.facade.list(topic)
    }

    /// A key's presences in a topic, as JSON.
    #[wasm_bindgen(js_name = getByKey)]
    pub fn get_by_key(&self, topic: &str, key: &str) -> String {
        self.facade.get_by_key(topic, key)
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

    /// Marks a replica down; the diff as JSON.
    #[wasm_bindgen(js_name = replicaDown)]
    pub fn replica_down(&mut self, name: &str, incarnation: &str) -> JsResult<String> {
        js(self.facade.replica_down(name, incarnation))
    }

    /// Marks a replica up; the diff as JSON.
    #[wasm_bindgen(js_name = replicaUp)]
    pub fn replica_up(&mut self, name: &str, incarnation: &str) -> JsResult<String> {
        js(self.facade.replica_up(name, incarnation))
    }

    /// Removes a replica for good; the diff as JSON.
    #[wasm_bindgen(js_name = removeReplica)]
    pub fn remove_replica(&mut self, name: &str, incarnation: &str) -> JsResult<String> {
        js(self.facade.remove_replica(name, incarnation))
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
}

/// The decimal incarnation for a start time in Unix milliseconds and 16 random bits.
#[wasm_bindgen(js_name = incarnationFromParts)]
pub fn incarnation_from_parts(unix_millis: f64, random: f64) -> JsResult<String> {
    js(args::incarnation_from_parts(unix_millis, random)).map(|value| value.to_string())
}
