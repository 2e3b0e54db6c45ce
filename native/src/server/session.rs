//! One socket's channels: the Phoenix V2 protocol as the server side of `phoenix.js` sees it,
//! without the network. The socket task feeds it frames and writes out what it returns; tests
//! do the same with strings.
//!
//! - `phx_join` asks the [`JoinHook`] what to track, subscribes the socket to the topic,
//!   tracks its presence, replies ok, then sends `presence_state` (or, on the CRDT sync option,
//!   the topic's replication state) carrying the join's `join_ref`. A second join of the same
//!   topic closes the first one (`phx_close`), as Phoenix does.
//! - `phx_leave` untracks, replies ok, then sends `phx_close`.
//! - `presence:update` with `{"meta": {...}}` replaces the meta: one diff with `phx_ref_prev`.
//! - `heartbeat` on the `phoenix` topic is answered ok.
//! - Anything else gets an error reply; frames that cannot be read, floods and binary frames
//!   close the socket. Other sockets never notice.
//! - When the presence service fails (it stopped), the channel it failed for gets `phx_error`,
//!   as Phoenix sends when a channel process crashes, and `phoenix.js` rejoins; joins are
//!   refused while the service is down. The socket itself stays open.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use beryl_core::wire::phoenix;

use super::config::ServerConfig;
use super::error::{JoinError, ServiceError};
use super::flood::FloodGate;
use super::frame::{self, Inbound, PHOENIX_TOPIC, ReplyStatus, events};
use super::hub::{Hub, Outbound, SocketLink, snapshot_frames};
use super::join::{JoinHook, JoinRequest, SyncFormat, SyncMode, parse_meta};
use super::service::PresenceService;

/// What every socket of a server shares.
pub struct Endpoint<S> {
    /// The presence service.
    pub service: S,
    /// Topic subscriptions and fan-out.
    pub hub: Arc<Hub>,
    /// Limits.
    pub config: ServerConfig,
    /// Who may join what, tracking what.
    pub hook: Arc<dyn JoinHook>,
}

/// Why the server closes a socket: a WebSocket close code and a reason for the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Close {
    /// The WebSocket close code (RFC 6455, section 7.4.1).
    pub code: u16,
    /// Why, in words.
    pub reason: String,
}

impl Close {
    /// 1003: the client sent a kind of data the server does not accept.
    pub const UNSUPPORTED: u16 = 1003;
    /// 1007: a frame could not be read.
    pub const INVALID: u16 = 1007;
    /// 1008: the client broke a rule (flooding, silence past the heartbeat timeout).
    pub const POLICY: u16 = 1008;
    /// 1009: a frame was too large.
    pub const TOO_BIG: u16 = 1009;

    /// A close with `reason`, cut to what fits a close frame.
    pub fn new(code: u16, reason: impl Into<String>) -> Self {
        // A close reason must fit a control frame (125 bytes, two of them for the code).
        let mut reason = reason.into();
        if reason.len() > 120 {
            let mut end = 120;
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            reason.truncate(end);
        }
        Close { code, reason }
    }
}

/// What handling one frame produced: frames to write now, in order, and maybe a close.
#[derive(Debug, Default)]
pub struct Step {
    /// Frames to write before anything queued by the hub.
    pub frames: Vec<Outbound>,
    /// Set when the socket must be closed after writing `frames`.
    pub close: Option<Close>,
}

impl Step {
    fn push(&mut self, text: String) {
        self.frames.push(Outbound::text(text));
    }

    /// This step, closing the socket after its frames.
    pub fn closing(mut self, close: Close) -> Self {
        self.close = Some(close);
        self
    }
}

#[derive(Debug)]
struct Channel {
    join_ref: String,
    key: String,
    /// The hub's number of this join.
    join: u64,
}

/// The channels of one socket.
pub struct Session<S: PresenceService> {
    endpoint: Arc<Endpoint<S>>,
    link: SocketLink,
    pid: Arc<str>,
    connect_params: HashMap<String, String>,
    channels: HashMap<String, Channel>,
    flood: FloodGate,
}

impl<S: PresenceService> Session<S> {
    /// A session for the socket behind `link`, whose presences are tracked with pid `pid`.
    pub fn new(
        endpoint: Arc<Endpoint<S>>,
        link: SocketLink,
        pid: impl Into<Arc<str>>,
        connect_params: HashMap<String, String>,
    ) -> Self {
        let flood = FloodGate::new(
            endpoint.config.flood_burst,
            endpoint.config.flood_per_second,
        );
        Session {
            endpoint,
            link,
            pid: pid.into(),
            connect_params,
            channels: HashMap::new(),
            flood,
        }
    }

    /// The pid of this socket's presences.
    pub fn pid(&self) -> &str {
        &self.pid
    }

    /// Whether a frame queued for the hub's join `join` is still to be written: false once
    /// that join was left, replaced by a newer join of its topic, or refused.
    pub fn is_current(&self, join: u64) -> bool {
        self.channels.values().any(|channel| channel.join == join)
    }

    /// The topics joined, sorted.
    pub fn topics(&self) -> Vec<&str> {
        let mut topics: Vec<&str> = self.channels.keys().map(String::as_str).collect();
        topics.sort_unstable();
        topics
    }

    /// Takes a flood-control token for a frame received at `now`; the close when the socket
    /// is over its rate. Every frame counts, control frames (ping, pong) included.
    fn admit(&mut self, now: Instant) -> Option<Close> {
        if self.flood.admit(now) {
            return None;
        }
        Some(Close::new(
            Close::POLICY,
            "too many messages; slow down (see ServerConfig::flood_per_second)",
        ))
    }

    /// Handles a ping or pong frame received at `now`: the WebSocket library answers pings by
    /// itself, but they count against the flood limit like any other frame, so that a socket
    /// cannot make the server queue pongs without limit.
    pub fn receive_control(&mut self, now: Instant) -> Step {
        match self.admit(now) {
            Some(close) => Step::default().closing(close),
            None => Step::default(),
        }
    }

    /// Handles a text frame received at `now`.
    pub async fn receive_text(&mut self, text: &str, now: Instant) -> Step {
        if let Some(close) = self.admit(now) {
            return Step::default().closing(close);
        }
        let inbound = match frame::parse(text, self.endpoint.config.max_frame_bytes) {
            Ok(inbound) => inbound,
            Err(error @ super::error::FrameError::TooLarge { .. }) => {
                return Step::default().closing(Close::new(Close::TOO_BIG, error.to_string()));
            }
            Err(error) => {
                return Step::default().closing(Close::new(Close::INVALID, error.to_string()));
            }
        };
        self.handle(inbound).await
    }

    /// Handles a binary frame: clients have nothing to send in binary, so the socket closes.
    pub fn receive_binary(&mut self, bytes: &[u8]) -> Step {
        Step::default().closing(Close::new(
            Close::UNSUPPORTED,
            format!(
                "binary frames ({} bytes) are not accepted; send Phoenix V2 JSON text frames",
                bytes.len()
            ),
        ))
    }

    async fn handle(&mut self, inbound: Inbound) -> Step {
        let mut step = Step::default();
        if inbound.topic == PHOENIX_TOPIC {
            if inbound.event == events::HEARTBEAT {
                step.push(frame::reply(
                    None,
                    inbound.msg_ref.as_deref(),
                    PHOENIX_TOPIC,
                    ReplyStatus::Ok,
                    "{}",
                ));
            } else {
                step.push(unknown_event(&inbound));
            }
            return step;
        }
        if inbound.event == events::JOIN {
            self.join(inbound, &mut step).await;
            return step;
        }
        let Some(channel) = self.channels.get(&inbound.topic) else {
            step.push(unmatched(&inbound));
            return step;
        };
        if inbound
            .join_ref
            .as_deref()
            .is_some_and(|join_ref| join_ref != channel.join_ref)
        {
            step.push(unmatched(&inbound));
            return step;
        }
        match inbound.event.as_str() {
            events::LEAVE => {
                if let Some(channel) = self.close_channel(&inbound.topic).await {
                    step.push(frame::reply(
                        Some(&channel.join_ref),
                        inbound.msg_ref.as_deref(),
                        &inbound.topic,
                        ReplyStatus::Ok,
                        "{}",
                    ));
                    step.push(close_frame(&channel.join_ref, &inbound.topic));
                }
            }
            events::PRESENCE_UPDATE => {
                if let Err(ServiceError::Stopped) = self.update(&inbound, &mut step).await {
                    self.fail_channel(&inbound.topic, &mut step);
                }
            }
            _ => step.push(unknown_event(&inbound)),
        }
        step
    }

    /// The service failed for this channel: it is gone on the server, and the client is told
    /// so the way Phoenix tells it, with `phx_error`.
    fn fail_channel(&mut self, topic: &str, step: &mut Step) {
        if let Some(channel) = self.channels.remove(topic) {
            self.endpoint.hub.unsubscribe(topic, self.link.id());
            step.push(frame::channel_error(&channel.join_ref, topic));
        }
    }

    async fn join(&mut self, inbound: Inbound, step: &mut Step) {
        let topic = inbound.topic.as_str();
        let msg_ref = inbound.msg_ref.as_deref();
        let Some(join_ref) = inbound.join_ref.clone().or_else(|| inbound.msg_ref.clone()) else {
            step.push(frame::error_reply(
                None,
                None,
                topic,
                "a join must carry a ref (the frame's first or second element)",
            ));
            return;
        };
        let refuse = |step: &mut Step, error: JoinError| {
            step.push(frame::error_reply(
                Some(&join_ref),
                msg_ref,
                topic,
                &error.to_string(),
            ));
        };

        // A second join of a topic replaces the first, as in Phoenix.
        if let Some(previous) = self.close_channel(topic).await {
            step.push(close_frame(&previous.join_ref, topic));
        }
        let endpoint = self.endpoint.clone();
        let config = &endpoint.config;
        // A state is built for each join: not for a socket that has not taken in what it was
        // already sent.
        let pending = self.link.pending_bytes();
        if pending > self.link.budget() / 2 {
            refuse(
                step,
                JoinError::Behind {
                    pending_bytes: pending,
                },
            );
            return;
        }
        if self.channels.len() >= config.max_channels_per_socket {
            refuse(
                step,
                JoinError::TooManyChannels {
                    max: config.max_channels_per_socket,
                },
            );
            return;
        }
        let grant = match endpoint.hook.authorize(&JoinRequest {
            topic,
            payload: &inbound.payload,
            connect_params: &self.connect_params,
            socket_id: &self.pid,
            limits: &config.limits,
        }) {
            Ok(grant) => grant,
            Err(reason) => {
                refuse(step, JoinError::BadParams(reason));
                return;
            }
        };
        if grant.sync == SyncMode::Crdt(SyncFormat::Binary) {
            let too_long = [("topic", topic.len()), ("join_ref", join_ref.len())]
                .into_iter()
                .find(|&(_, bytes)| bytes > 255);
            if let Some((field, bytes)) = too_long {
                refuse(step, JoinError::TooLongForBinary { field, bytes });
                return;
            }
        }

        // Subscribe before tracking and reading the snapshot: every change after the snapshot
        // is then queued for this socket, and written after the frames returned here.
        let join = endpoint
            .hub
            .subscribe(topic, self.link.clone(), &join_ref, grant.sync);
        if let Err(error) = endpoint
            .service
            .track(topic, &grant.key, &self.pid, grant.meta)
            .await
        {
            endpoint.hub.unsubscribe(topic, self.link.id());
            refuse(
                step,
                match error {
                    ServiceError::Refused(reason) => JoinError::Presence(reason),
                    stopped @ ServiceError::Stopped => JoinError::Service(stopped),
                },
            );
            return;
        }
        // The state is read before the join is acknowledged, so that a failed read leaves
        // neither a presence nor a half-joined channel behind.
        let initial = match grant.sync {
            SyncMode::Phoenix => endpoint.service.presence_state(topic).await.map(|state| {
                vec![Outbound::text(phoenix::frame(
                    Some(&join_ref),
                    None,
                    topic,
                    events::PRESENCE_STATE,
                    &state,
                ))]
            }),
            SyncMode::Crdt(format) => endpoint.service.sync_snapshot(topic).await.map(|snapshot| {
                endpoint.hub.note_entries(topic, &snapshot.delta);
                snapshot_frames(
                    &endpoint.service.replica(),
                    topic,
                    &join_ref,
                    format,
                    &snapshot,
                )
            }),
        };
        let initial = initial.map_err(JoinError::Service).and_then(|frames| {
            let bytes: usize = frames.iter().map(Outbound::len).sum();
            if bytes > self.link.budget() {
                return Err(JoinError::StateTooLarge {
                    bytes,
                    max_bytes: self.link.budget(),
                });
            }
            Ok(frames)
        });
        let initial = match initial {
            Ok(frames) => frames,
            Err(error) => {
                endpoint.hub.unsubscribe(topic, self.link.id());
                // A stopped service holds nothing to untrack.
                let _ = endpoint.service.untrack(topic, &grant.key, &self.pid).await;
                refuse(step, error);
                return;
            }
        };
        self.channels.insert(
            topic.to_owned(),
            Channel {
                join_ref: join_ref.clone(),
                key: grant.key,
                join,
            },
        );
        step.push(frame::reply(
            Some(&join_ref),
            msg_ref,
            topic,
            ReplyStatus::Ok,
            "{}",
        ));
        step.frames.extend(initial);
    }

    async fn update(&mut self, inbound: &Inbound, step: &mut Step) -> Result<(), ServiceError> {
        let Some(channel) = self.channels.get(&inbound.topic) else {
            return Ok(());
        };
        let reply_error = |step: &mut Step, reason: &str| {
            step.push(frame::error_reply(
                Some(&channel.join_ref),
                inbound.msg_ref.as_deref(),
                &inbound.topic,
                reason,
            ));
        };
        #[derive(serde::Deserialize)]
        struct UpdatePayload<'a> {
            #[serde(borrow)]
            meta: &'a serde_json::value::RawValue,
        }
        let Ok(payload) = serde_json::from_str::<UpdatePayload<'_>>(inbound.payload.get()) else {
            reply_error(
                step,
                "presence:update expects the payload {\"meta\": {...}} with the new meta",
            );
            return Ok(());
        };
        let meta = match parse_meta(payload.meta.get(), &self.endpoint.config.limits) {
            Ok(meta) => meta,
            Err(reason) => {
                reply_error(step, &reason);
                return Ok(());
            }
        };
        match self
            .endpoint
            .service
            .update(&inbound.topic, &channel.key, &self.pid, meta)
            .await
        {
            Ok(()) => step.push(frame::reply(
                Some(&channel.join_ref),
                inbound.msg_ref.as_deref(),
                &inbound.topic,
                ReplyStatus::Ok,
                "{}",
            )),
            Err(ServiceError::Refused(reason)) => reply_error(step, &reason),
            Err(stopped) => return Err(stopped),
        }
        Ok(())
    }

    /// Unsubscribes and untracks one channel; returns it if it was joined.
    async fn close_channel(&mut self, topic: &str) -> Option<Channel> {
        let channel = self.channels.remove(topic)?;
        self.endpoint.hub.unsubscribe(topic, self.link.id());
        // Untracking fails only when the service has stopped, and then holds nothing.
        let _ = self
            .endpoint
            .service
            .untrack(topic, &channel.key, &self.pid)
            .await;
        Some(channel)
    }

    /// The socket closed: stops every subscription and untracks every presence of the socket,
    /// so a closed socket leaves nothing behind.
    pub async fn terminate(&mut self) {
        for topic in self.channels.keys() {
            self.endpoint.hub.unsubscribe(topic, self.link.id());
        }
        self.channels.clear();
        // A stopped service has nothing left to untrack.
        let _ = self.endpoint.service.untrack_all(&self.pid).await;
    }
}

fn close_frame(join_ref: &str, topic: &str) -> String {
    phoenix::frame(Some(join_ref), Some(join_ref), topic, events::CLOSE, "{}")
}

fn unmatched(inbound: &Inbound) -> String {
    frame::error_reply(
        inbound.join_ref.as_deref(),
        inbound.msg_ref.as_deref(),
        &inbound.topic,
        "unmatched topic: join it first",
    )
}

fn unknown_event(inbound: &Inbound) -> String {
    frame::error_reply(
        inbound.join_ref.as_deref(),
        inbound.msg_ref.as_deref(),
        &inbound.topic,
        &format!(
            "unknown event {:?}; this server handles phx_join, phx_leave, presence:update and \
             heartbeat",
            inbound.event
        ),
    )
}
