//! Browser, Node and edge-worker bindings of `beryl-core` (the npm package `beryl-presence`).
//!
//! The `#[wasm_bindgen]` layer ([`bindings`]) is deliberately thin: it forwards to
//! [`facade::StateFacade`], which speaks text (lists and diffs in the [`compact`] form, the rest
//! JSON) and typed errors and runs natively too. The package's JS wrapper (in `pkg-template/`)
//! turns the text into plain objects, the error names into `BerylError` subclasses, and calls
//! diff handlers only after a call has returned, so a handler may call back into the same state.
//! [`sync`] exposes the replication engine the same way, for hosts that replicate like the
//! native servers.

pub mod args;
pub mod bindings;
pub mod compact;
pub mod error;
pub mod facade;
pub mod json;
pub mod messages;
pub mod sync;
