//! The WebSocket endpoint: Phoenix Channels V2 over WebSocket, so that the unmodified `phoenix`
//! npm client (`Socket`, `Channel`, `Presence`) and browsers can use a beryl presence service.
//!
//! ```text
//! /socket/websocket?vsn=2.0.0    the channels endpoint
//! /                              the demo page (served by `beryl serve`)
//! /pkg/...                       the beryl-presence package files the page imports
//! ```
//!
//! A client joins a topic with `{"key": "...", "meta": {...}}` (or whatever a [`JoinHook`]
//! accepts); its presence is tracked under the socket's id and untracked when it leaves or the
//! socket closes. It then receives `presence_state` and `presence_diff` for that topic, or, if
//! it joined with `"sync": "crdt"`, the topic's replication state and deltas (`beryl_sync`
//! events) that a `beryl-presence` client replica applies with `merge`: duplicated or reordered
//! deliveries cannot corrupt its view. The protocol details are in [`session`].

mod coalesce;
pub mod config;
pub mod error;
pub mod flood;
pub mod frame;
pub mod http;
pub mod hub;
pub mod join;
mod listen;
mod node;
pub mod service;
pub mod session;
mod socket;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

pub use config::ServerConfig;
pub use error::{FrameError, JoinError, ServeError, ServiceError};
pub use join::{JoinGrant, JoinHook, JoinParams, JoinRequest, ParamsJoin, SyncFormat, SyncMode};
pub use service::{PresenceService, ServiceEvent, SyncSnapshot};

use hub::Hub;
use session::Endpoint;

/// A Phoenix channels server over a presence service.
pub struct Server<S> {
    service: S,
    config: ServerConfig,
    hook: Arc<dyn JoinHook>,
    package_dir: Option<PathBuf>,
}

impl<S: PresenceService> Server<S> {
    /// A server with the default limits, taking each join's key and meta from its params.
    pub fn new(service: S) -> Self {
        Server {
            service,
            config: ServerConfig::default(),
            hook: Arc::new(ParamsJoin),
            package_dir: None,
        }
    }

    /// Replaces the limits.
    pub fn config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }

    /// Replaces the join hook (authorization, or deriving the key and meta).
    pub fn join_hook(mut self, hook: impl JoinHook) -> Self {
        self.hook = Arc::new(hook);
        self
    }

    /// Serves the files of this directory (the built `beryl-presence` package) under `/pkg/`.
    pub fn package_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.package_dir = Some(dir.into());
        self
    }

    /// The routes, with the fan-out task started. Merge them into an application's router, or
    /// use [`serve`](Self::serve).
    pub async fn into_router(self) -> Result<axum::Router, ServiceError> {
        let events = self.service.subscribe().await?;
        let hub = Arc::new(Hub::new(self.service.replica()));
        tokio::spawn(hub::run_dispatcher(
            hub.clone(),
            self.service.clone(),
            events,
            self.config.crdt_context_interval,
        ));
        let endpoint = Arc::new(Endpoint {
            service: self.service,
            hub,
            config: self.config,
            hook: self.hook,
        });
        Ok(http::router(endpoint, self.package_dir))
    }

    /// Serves on `listener` until `shutdown` completes, with the connection limits of the
    /// [`ServerConfig`]: a deadline for each request head
    /// ([`header_read_timeout`](ServerConfig::header_read_timeout)) and caps on open
    /// connections in total and per peer address.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let config = self.config.clone();
        let router = self
            .into_router()
            .await
            .map_err(|error| ServeError::Io(std::io::Error::other(error)))?;
        listen::serve(listener, router, &config, shutdown).await;
        Ok(())
    }
}
