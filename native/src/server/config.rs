//! The WebSocket endpoint's settings: limits on what one client may send and hold.

use std::time::Duration;

use beryl_core::Limits;

/// Settings of the Phoenix channels endpoint. Every limit protects the other clients from one
/// misbehaving socket: breaking one gets that socket an error reply or a close, nothing more.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The longest text frame accepted; longer ones close the socket. Default 64 KiB.
    pub max_frame_bytes: usize,
    /// How many topics one socket may join at once. Default 100.
    pub max_channels_per_socket: usize,
    /// A socket that sends nothing (not even a heartbeat) for this long is closed. `phoenix.js`
    /// sends a heartbeat every 30 s. Default 60 s.
    pub heartbeat_timeout: Duration,
    /// How many messages a socket may send in a burst before the sustained rate applies.
    /// Default 200.
    pub flood_burst: u32,
    /// The sustained number of messages per second a socket may send; beyond it the socket is
    /// closed. Default 100.
    pub flood_per_second: u32,
    /// How many frames may wait for a slow client; a client further behind is closed, since
    /// skipping diffs would corrupt its view. Default 4,096.
    pub outbound_queue: usize,
    /// The longest a write to a socket may take. A client that stops reading fills its TCP
    /// buffers and blocks the write; past this the socket is dropped and its presences
    /// untracked, instead of staying listed until TCP gives up. While a write waits, the
    /// socket's other deadlines (heartbeat, queue overflow) wait with it, so this also bounds
    /// how late they are noticed. Default 10 s.
    pub write_timeout: Duration,
    /// The most bytes that may wait to be sent to one socket: the frames queued for it, the
    /// frame being written, and the pongs the WebSocket library queues by itself. A socket that
    /// would go over it is closed and its presences untracked (its client is not reading), so
    /// one socket holds at most this much of the server's memory. This is also the largest
    /// frame the server sends, such as the `presence_state` of a big topic. Default 16 MiB.
    pub max_outbound_bytes: usize,
    /// A connection must send a whole request head (the request line and headers) within this
    /// long after it opens, or after its previous request; otherwise it is closed. This also
    /// closes connections that send nothing at all. Default 10 s.
    pub header_read_timeout: Duration,
    /// How many connections may be open at once (WebSockets included); past it new connections
    /// get a `503` and are closed, the open ones are not affected. Keep it below the process's
    /// file descriptor limit. `usize::MAX` for no cap. Default 10,000.
    pub max_connections: usize,
    /// How many connections one peer address may hold open at once; past it its new
    /// connections get a `503`. Behind a reverse proxy every client has the proxy's address:
    /// raise it there, or use `usize::MAX` for no cap. Default 1,000.
    pub max_connections_per_peer: usize,
    /// How often the CRDT sync clients of a topic are sent, as one delta, the context of what
    /// changed in other topics since the last time (their replica keeps the server's whole
    /// causal context). Changes to a topic's own entries reach its clients at once. Use the
    /// presence node's broadcast interval. Default 1.5 s.
    pub crdt_context_interval: Duration,
    /// Limits on the topic, key and meta of each join and update. Default [`Limits::default`].
    pub limits: Limits,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_frame_bytes: 64 * 1024,
            max_channels_per_socket: 100,
            heartbeat_timeout: Duration::from_secs(60),
            flood_burst: 200,
            flood_per_second: 100,
            outbound_queue: 4_096,
            write_timeout: Duration::from_secs(10),
            max_outbound_bytes: 16 * 1024 * 1024,
            header_read_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            max_connections_per_peer: 1_000,
            crdt_context_interval: Duration::from_millis(1_500),
            limits: Limits::default(),
        }
    }
}
