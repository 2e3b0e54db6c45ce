//! One WebSocket connection: reads frames into its [`Session`], writes the session's replies
//! and the frames the hub queues, and cleans up however the connection ends.
//!
//! What one socket may hold of the server's memory is bounded: the frames queued for it and
//! the frame being written count against [`ServerConfig::max_outbound_bytes`], large frames
//! are written in fragments so the library's write buffer stays small, and that buffer (where
//! the library also queues the pongs it answers pings with) has a fixed cap.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncReadExt;
use tokio::sync::Notify;
use tokio::time::{Instant, sleep_until};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Bytes, Message};

use super::config::ServerConfig;
use super::hub::{Outbound, Queued, SocketLink};
use super::service::PresenceService;
use super::session::{Close, Endpoint, Session, Step};

/// A server-side WebSocket over an upgraded HTTP connection.
pub type WebSocket = WebSocketStream<TokioIo<Upgraded>>;

/// How many queued frames are written before flushing, so a burst of diffs costs one flush.
const WRITE_BATCH: usize = 64;
/// How much the writer gathers before writing to the connection.
const WRITE_BUFFER: usize = 64 * 1024;
/// The read buffer each socket allocates.
const READ_BUFFER: usize = 16 * 1024;
/// Frames longer than this are sent as several fragments of at most this size, so that the
/// library's write buffer never holds a whole large frame (a big topic's `presence_state`).
const FRAGMENT: usize = 64 * 1024;
/// The most unsent data the library holds for one socket: a buffer's worth, a fragment, and
/// room for the pongs it queues by itself. Past it a write fails and the socket is dropped.
const MAX_UNSENT: usize = WRITE_BUFFER + FRAGMENT + 256 * 1024;

/// The library's settings for a socket of a server configured with `config`.
pub fn websocket_config(config: &ServerConfig) -> WebSocketConfig {
    // Frames past the session's own limit are still read up to this size, so that the session
    // can close with its reason (1009); longer ones are refused by the library as they arrive,
    // and get a 1009 too.
    let max_message = config.max_frame_bytes.saturating_mul(4).max(64 * 1024);
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_UNSENT)
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message))
}

/// The WebSocket frames that carry `frame`: one, or fragments of at most [`FRAGMENT`] bytes
/// (a text frame is cut between characters). No copy of the payload is made.
fn fragments(frame: Outbound) -> Vec<Message> {
    let (opcode, text, bytes) = match frame {
        Outbound::Text(text) => (Data::Text, Some(text.clone()), Bytes::from(text)),
        Outbound::Binary(bytes) => (Data::Binary, None, bytes),
    };
    let total = bytes.len();
    if total <= FRAGMENT {
        return vec![Message::Frame(Frame::message(
            bytes,
            OpCode::Data(opcode),
            true,
        ))];
    }
    let mut out = Vec::with_capacity(total / FRAGMENT + 1);
    let mut start = 0;
    while start < total {
        let mut end = (start + FRAGMENT).min(total);
        if let Some(text) = &text {
            while !text.is_char_boundary(end) {
                end -= 1;
            }
        }
        let kind = if start == 0 { opcode } else { Data::Continue };
        out.push(Message::Frame(Frame::message(
            bytes.slice(start..end),
            OpCode::Data(kind),
            end == total,
        )));
        start = end;
    }
    out
}

/// How long a closing socket waits for the client's close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Sends a close frame, then reads (and drops) what the client still sends until it answers
/// with its own close. Dropping the connection at once would reset it while unread frames
/// remain, and the client would lose the close frame and its reason. A client that does not
/// take the close frame within `write_timeout` (at most [`CLOSE_GRACE`]) is dropped without
/// it.
///
/// After a frame the library refused as too large, the rest of it is still arriving and cannot
/// be read as frames: the bytes are read and dropped instead, so that the connection is not
/// reset under the close frame.
async fn close(socket: &mut WebSocket, close: Close, write_timeout: Duration, unreadable: bool) {
    let sent = tokio::time::timeout(
        write_timeout.min(CLOSE_GRACE),
        socket.send(Message::Close(Some(CloseFrame {
            code: CloseCode::from(close.code),
            reason: close.reason.into(),
        }))),
    )
    .await;
    if !matches!(sent, Ok(Ok(()))) {
        return;
    }
    if unreadable {
        let discard = async {
            let mut buffer = vec![0; READ_BUFFER];
            while matches!(socket.get_mut().read(&mut buffer).await, Ok(1..)) {}
        };
        let _ = tokio::time::timeout(CLOSE_GRACE, discard).await;
        return;
    }
    let drain = async {
        while let Some(Ok(message)) = socket.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(CLOSE_GRACE, drain).await;
}

/// What to do after writing a step.
enum Next {
    Continue,
    /// The connection is gone, or too stuck to write to.
    Stop,
    /// Close it with this reason.
    Close(Close),
}

/// The close of a socket that went over its queue or byte budget.
fn overflowed() -> Close {
    Close::new(
        Close::POLICY,
        "too slow: the server holds too much unsent data for this socket; reconnect",
    )
}

/// How one socket writes: its budget, its overflow signal, its write timeout.
struct Writer {
    link: SocketLink,
    overflow: Arc<Notify>,
    write_timeout: Duration,
    id: u64,
}

impl Writer {
    /// Writes frames and flushes, giving up after `write_timeout`: a client that stopped
    /// reading must not hold its task (and its presences) forever. The frames count against
    /// the socket's outbound budget until they are written; a socket that goes over it while
    /// a write waits is closed at once.
    async fn write(&self, socket: &mut WebSocket, frames: Vec<Outbound>) -> Next {
        let bytes: usize = frames.iter().map(Outbound::len).sum();
        let write = async {
            for frame in frames {
                for message in fragments(frame) {
                    socket.feed(message).await?;
                }
            }
            socket.flush().await
        };
        let written = tokio::select! {
            written = tokio::time::timeout(self.write_timeout, write) => written,
            () = self.overflow.notified() => {
                self.link.written(bytes);
                return Next::Close(overflowed());
            }
        };
        self.link.written(bytes);
        match written {
            Ok(Ok(())) => Next::Continue,
            Ok(Err(error)) => {
                tracing::debug!(socket = self.id, %error, "a write failed");
                Next::Stop
            }
            Err(_) => {
                tracing::info!(
                    socket = self.id,
                    timeout = ?self.write_timeout,
                    "dropping a socket whose client stopped reading"
                );
                Next::Stop
            }
        }
    }

    /// Writes a step's frames (see [`write`](Self::write)), then its close if it has one.
    async fn step(&self, socket: &mut WebSocket, step: Step) -> Next {
        self.link
            .writing(step.frames.iter().map(Outbound::len).sum());
        match self.write(socket, step.frames).await {
            Next::Continue => {}
            other => return other,
        }
        match step.close {
            Some(reason) => Next::Close(reason),
            None => Next::Continue,
        }
    }
}

/// Serves one connection until it closes, then untracks everything it tracked.
pub async fn run<S: PresenceService>(
    endpoint: Arc<Endpoint<S>>,
    mut socket: WebSocket,
    id: u64,
    pid: String,
    connect_params: HashMap<String, String>,
) {
    let config = &endpoint.config;
    let (link, mut queue, overflow) =
        SocketLink::with_budget(id, config.outbound_queue, config.max_outbound_bytes);
    let timeout = config.heartbeat_timeout;
    let write_timeout = config.write_timeout;
    let max_frame_bytes = config.max_frame_bytes;
    let writer = Writer {
        link: link.clone(),
        overflow,
        write_timeout,
        id,
    };
    let mut session = Session::new(endpoint.clone(), link, pid, connect_params);
    let mut deadline = Instant::now() + timeout;
    // Set once the library refused a frame as too large: the stream cannot be read as frames.
    let mut unreadable = false;
    let ending = loop {
        let next = tokio::select! {
            incoming = socket.next() => {
                let step = match incoming {
                    Some(Ok(Message::Text(text))) => {
                        let now = Instant::now();
                        deadline = now + timeout;
                        session.receive_text(text.as_str(), now.into_std()).await
                    }
                    Some(Ok(Message::Binary(bytes))) => session.receive_binary(&bytes),
                    // The library queues the pong; writing the step flushes it, so a client
                    // that pings without reading the pongs is dropped after `write_timeout`
                    // like any client that stops reading.
                    Some(Ok(Message::Ping(_))) => session.receive_control(Instant::now().into_std()),
                    Some(Ok(Message::Pong(_))) => {
                        let step = session.receive_control(Instant::now().into_std());
                        if step.close.is_none() {
                            continue;
                        }
                        step
                    }
                    // Reads never yield raw frames.
                    Some(Ok(Message::Frame(_))) => continue,
                    Some(Err(tungstenite::Error::Capacity(error))) => {
                        unreadable = true;
                        Step::default().closing(Close::new(
                            Close::TOO_BIG,
                            format!("{error}; frames of at most {max_frame_bytes} bytes are accepted"),
                        ))
                    }
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break None,
                };
                writer.step(&mut socket, step).await
            }
            queued = queue.recv() => {
                let Some(first) = queued else { break None };
                let mut batch = vec![first];
                while batch.len() < WRITE_BATCH {
                    match queue.try_recv() {
                        Ok(queued) => batch.push(queued),
                        Err(_) => break,
                    }
                }
                let mut frames = Vec::with_capacity(batch.len());
                for Queued { join, frame } in batch {
                    if session.is_current(join) {
                        frames.push(frame);
                    } else {
                        writer.link.written(frame.len());
                    }
                }
                writer.write(&mut socket, frames).await
            }
            () = writer.overflow.notified() => Next::Close(overflowed()),
            () = sleep_until(deadline) => Next::Close(Close::new(
                Close::POLICY,
                "no message within the heartbeat timeout",
            )),
        };
        match next {
            Next::Continue => {}
            Next::Stop => break None,
            Next::Close(reason) => break Some(reason),
        }
    };
    // Untrack first: the others see this socket leave without waiting for the close handshake.
    session.terminate().await;
    if let Some(reason) = ending {
        close(&mut socket, reason, write_timeout, unreadable).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payloads(messages: Vec<Message>) -> Vec<(bool, OpCode, Vec<u8>)> {
        messages
            .into_iter()
            .map(|message| match message {
                Message::Frame(frame) => (
                    frame.header().is_final,
                    frame.header().opcode,
                    frame.payload().to_vec(),
                ),
                other => panic!("expected a raw frame, got {other:?}"),
            })
            .collect()
    }

    #[test]
    fn small_frames_go_whole_and_large_ones_in_fragments_cut_between_characters() {
        let small = payloads(fragments(Outbound::text("[1]".to_owned())));
        assert_eq!(small, [(true, OpCode::Data(Data::Text), b"[1]".to_vec())]);

        // Two-byte characters, placed so that a cut at FRAGMENT bytes would split one.
        let text = format!("a{}", "é".repeat(FRAGMENT));
        let parts = payloads(fragments(Outbound::text(text.clone())));
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].1, OpCode::Data(Data::Text));
        assert!(
            parts[1..]
                .iter()
                .all(|part| part.1 == OpCode::Data(Data::Continue))
        );
        assert_eq!(
            parts.iter().map(|part| part.0).collect::<Vec<_>>(),
            [false, false, true]
        );
        for part in &parts {
            assert!(part.2.len() <= FRAGMENT);
            assert!(std::str::from_utf8(&part.2).is_ok(), "a character was cut");
        }
        let joined: Vec<u8> = parts.into_iter().flat_map(|part| part.2).collect();
        assert_eq!(joined, text.as_bytes());

        let parts = payloads(fragments(Outbound::Binary(Bytes::from(vec![
            9u8;
            FRAGMENT + 1
        ]))));
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].1, OpCode::Data(Data::Binary));
        assert_eq!(parts[1].2.len(), 1);
    }
}
