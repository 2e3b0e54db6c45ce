//! What can go wrong between a client and the server, one enum per concern.

use thiserror::Error;

/// A frame that cannot be read as a Phoenix V2 message. The socket answers with an error or
/// closes; other clients are not affected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    /// The frame is longer than the server accepts.
    #[error(
        "frame of {bytes} bytes exceeds the limit of {max_bytes} bytes; send smaller messages \
         (or raise ServerConfig::max_frame_bytes)"
    )]
    TooLarge {
        /// The frame's length.
        bytes: usize,
        /// The limit in force.
        max_bytes: usize,
    },
    /// Not the JSON array `[join_ref, ref, topic, event, payload]`.
    #[error(
        "malformed frame ({reason}); expected the Phoenix V2 JSON array \
         [join_ref, ref, topic, event, payload]"
    )]
    Malformed {
        /// What the JSON parser said.
        reason: String,
    },
    /// The topic is the empty string.
    #[error("the topic of a frame must not be empty")]
    EmptyTopic,
}

/// Why a join was refused. The reason travels to the client in the error reply.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum JoinError {
    /// The join's payload is not a JSON object with a string `key`.
    #[error("{0}")]
    BadParams(String),
    /// The application's join hook refused the join.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The socket already holds as many channels as it may.
    #[error(
        "this socket already joined {max} topics; leave one first (or raise \
         ServerConfig::max_channels_per_socket)"
    )]
    TooManyChannels {
        /// The limit in force.
        max: usize,
    },
    /// The topic or the join_ref is too long for the binary frames the join asked for.
    #[error(
        "the {field} is {bytes} bytes long, too long for binary sync frames (at most 255 \
         bytes); join with \"format\": \"json\" or use a shorter {field}"
    )]
    TooLongForBinary {
        /// Which field: `topic` or `join_ref`.
        field: &'static str,
        /// Its length.
        bytes: usize,
    },
    /// The join's initial state is larger than the server sends one socket.
    #[error(
        "the state of this topic is {bytes} bytes, more than the {max_bytes} this server sends \
         one socket (ServerConfig::max_outbound_bytes)"
    )]
    StateTooLarge {
        /// The size of the state's frames.
        bytes: usize,
        /// The limit in force.
        max_bytes: usize,
    },
    /// The socket has not taken in much of what it was already sent, so no new state is built
    /// for it.
    #[error(
        "this socket has {pending_bytes} bytes it has not read yet; read them before joining \
         again"
    )]
    Behind {
        /// The bytes waiting to be sent to the socket.
        pending_bytes: usize,
    },
    /// The presence service refused the track (limits, or the key/pid is already tracked).
    #[error("{0}")]
    Presence(String),
    /// The presence service could not serve the join (it stopped, or does not offer the
    /// sync option asked for).
    #[error("{0}")]
    Service(ServiceError),
}

/// A presence operation the service could not carry out.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ServiceError {
    /// The input breaks a limit or a rule of the presence state (the message says which).
    #[error("{0}")]
    Refused(String),
    /// The presence service has stopped; the server cannot serve presence any more.
    #[error("the presence service has stopped; restart the server")]
    Stopped,
}

/// Why the server could not start.
#[derive(Debug, Error)]
pub enum ServeError {
    /// The listen address could not be bound.
    #[error("cannot listen on {address}: {source}; pick another address with --listen")]
    Bind {
        /// The address asked for.
        address: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Serving failed after start.
    #[error("the HTTP server failed: {0}")]
    Io(#[from] std::io::Error),
}
