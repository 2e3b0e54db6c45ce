//! One WebSocket connection: reads frames into its [`Session`], writes the session's replies
//! and the frames the hub queues, and cleans up however the connection ends.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::SinkExt;
use tokio::time::{Instant, sleep_until};

use super::hub::{Outbound, SocketLink};
use super::service::PresenceService;
use super::session::{Close, Endpoint, Session, Step};

/// How many queued frames are written before flushing, so a burst of diffs costs one flush.
const WRITE_BATCH: usize = 64;

fn to_message(frame: Outbound) -> Message {
    match frame {
        Outbound::Text(text) => Message::Text(Utf8Bytes::from(&*text)),
        Outbound::Binary(bytes) => Message::Binary(bytes.to_vec().into()),
    }
}

/// How long a closing socket waits for the client's close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Sends a close frame, then reads (and drops) what the client still sends until it answers
/// with its own close. Dropping the connection at once would reset it while unread frames
/// remain, and the client would lose the close frame and its reason. A client that does not
/// take the close frame within `write_timeout` (at most [`CLOSE_GRACE`]) is dropped without
/// it.
async fn close(socket: &mut WebSocket, close: Close, write_timeout: Duration) {
    let sent = tokio::time::timeout(
        write_timeout.min(CLOSE_GRACE),
        socket.send(Message::Close(Some(CloseFrame {
            code: close.code,
            reason: Utf8Bytes::from(close.reason),
        }))),
    )
    .await;
    if !matches!(sent, Ok(Ok(()))) {
        return;
    }
    let drain = async {
        while let Some(Ok(message)) = socket.recv().await {
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

/// Writes a step's frames, giving up after `write_timeout`: a client that stopped reading
/// must not hold its task (and its presences) forever.
async fn write_step(socket: &mut WebSocket, step: Step, write_timeout: Duration, id: u64) -> Next {
    let write = async {
        for frame in step.frames {
            socket.feed(to_message(frame)).await?;
        }
        socket.flush().await
    };
    match tokio::time::timeout(write_timeout, write).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) => return Next::Stop,
        Err(_) => {
            tracing::info!(
                socket = id,
                timeout = ?write_timeout,
                "dropping a socket whose client stopped reading"
            );
            return Next::Stop;
        }
    }
    match step.close {
        Some(reason) => Next::Close(reason),
        None => Next::Continue,
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
    let (link, mut queue, overflow) = SocketLink::new(id, endpoint.config.outbound_queue);
    let timeout = endpoint.config.heartbeat_timeout;
    let write_timeout = endpoint.config.write_timeout;
    let mut session = Session::new(endpoint, link, pid, connect_params);
    let mut deadline = Instant::now() + timeout;
    let ending = loop {
        let next = tokio::select! {
            incoming = socket.recv() => {
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
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break None,
                };
                write_step(&mut socket, step, write_timeout, id).await
            }
            queued = queue.recv() => {
                let Some(first) = queued else { break None };
                let mut frames = vec![first];
                while frames.len() < WRITE_BATCH {
                    match queue.try_recv() {
                        Ok(frame) => frames.push(frame),
                        Err(_) => break,
                    }
                }
                write_step(&mut socket, Step { frames, close: None }, write_timeout, id).await
            }
            () = overflow.notified() => Next::Close(Close {
                code: Close::POLICY,
                reason: "too slow: the server's queue for this socket is full; reconnect".into(),
            }),
            () = sleep_until(deadline) => Next::Close(Close {
                code: Close::POLICY,
                reason: "no message within the heartbeat timeout".into(),
            }),
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
        close(&mut socket, reason, write_timeout).await;
    }
}
