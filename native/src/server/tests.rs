//! The session protocol, driven with strings over a bare presence state: no network, no
//! timers. Events are dispatched by hand, so each test says exactly when fan-out happens.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use beryl_core::wire::{self, WireLimits};
use beryl_core::{Message, PresenceState, ReplicaId};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::config::ServerConfig;
use super::hub::{Hub, Outbound, Queued, SocketLink, run_dispatcher, snapshot_frames};
use super::join::{JoinGrant, JoinHook, JoinRequest, ParamsJoin, SyncFormat, SyncMode};
use super::service::{PresenceService, ServiceEvent};
use super::session::{Close, Endpoint, Session, Step};
use super::testing::{EVENT_QUEUE, LocalService};

struct World {
    service: LocalService,
    endpoint: Arc<Endpoint<LocalService>>,
    events: mpsc::Receiver<ServiceEvent>,
    next_socket: u64,
}

struct Client {
    session: Session<LocalService>,
    queue: mpsc::Receiver<Queued>,
    link: SocketLink,
}

impl World {
    async fn new() -> Self {
        Self::with(ServerConfig::default(), ParamsJoin).await
    }

    async fn with(config: ServerConfig, hook: impl JoinHook) -> Self {
        let service = LocalService::new("server");
        let events = service.subscribe().await.unwrap();
        let endpoint = Arc::new(Endpoint {
            hub: Arc::new(Hub::new(service.replica())),
            service: service.clone(),
            config,
            hook: Arc::new(hook),
        });
        World {
            service,
            endpoint,
            events,
            next_socket: 1,
        }
    }

    fn connect(&mut self) -> Client {
        self.connect_with(HashMap::new())
    }

    fn connect_with(&mut self, params: HashMap<String, String>) -> Client {
        let id = self.next_socket;
        self.next_socket += 1;
        let config = &self.endpoint.config;
        let (link, queue, _overflow) =
            SocketLink::with_budget(id, config.outbound_queue, config.max_outbound_bytes);
        Client {
            session: Session::new(
                self.endpoint.clone(),
                link.clone(),
                format!("socket-{id}"),
                params,
            ),
            queue,
            link,
        }
    }

    /// Fans out every event so far.
    fn dispatch(&mut self) {
        while let Ok(event) = self.events.try_recv() {
            assert!(self.endpoint.hub.dispatch(&event));
        }
    }

    fn keys(&self, topic: &str) -> Vec<String> {
        self.service.with_state(|state| {
            state
                .list(topic)
                .iter()
                .map(|group| group.key().to_owned())
                .collect()
        })
    }

    fn stored(&self) -> usize {
        self.service.with_state(|state| state.stored_len())
    }
}

impl Client {
    async fn send(&mut self, frame: Value) -> Vec<Value> {
        let step = self.send_text(&frame.to_string()).await;
        assert_eq!(step.close, None, "unexpected close");
        texts(step.frames)
    }

    async fn send_text(&mut self, text: &str) -> Step {
        self.session.receive_text(text, Instant::now()).await
    }

    async fn join(&mut self, topic: &str, join_ref: &str, params: Value) -> Vec<Value> {
        self.send(json!([join_ref, join_ref, topic, "phx_join", params]))
            .await
    }

    /// The frames queued for this socket, taken as its task takes and writes them.
    fn queued(&mut self) -> Vec<Outbound> {
        let mut out = Vec::new();
        while let Ok(Queued { join, frame }) = self.queue.try_recv() {
            self.link.written(frame.len());
            if self.session.is_current(join) {
                out.push(frame);
            }
        }
        out
    }

    fn queued_texts(&mut self) -> Vec<Value> {
        texts(self.queued())
    }
}

fn texts(frames: Vec<Outbound>) -> Vec<Value> {
    frames
        .into_iter()
        .map(|frame| match frame {
            Outbound::Text(text) => serde_json::from_str(&text).unwrap(),
            Outbound::Binary(_) => panic!("binary frame where text was expected"),
        })
        .collect()
}

fn event(frame: &Value) -> &str {
    frame[3].as_str().unwrap()
}

fn status(frame: &Value) -> &str {
    frame[4]["status"].as_str().unwrap()
}

fn reason(frame: &Value) -> &str {
    frame[4]["response"]["reason"].as_str().unwrap()
}

#[tokio::test]
async fn heartbeats_are_answered_on_the_phoenix_topic() {
    let mut world = World::new().await;
    let mut client = world.connect();
    let replies = client
        .send(json!([null, "5", "phoenix", "heartbeat", {}]))
        .await;
    assert_eq!(
        replies,
        vec![json!([null, "5", "phoenix", "phx_reply", {"status": "ok", "response": {}}])]
    );
}

#[tokio::test]
async fn a_join_replies_ok_then_sends_the_state_with_its_join_ref() {
    let mut world = World::new().await;
    let mut ada = world.connect();
    let frames = ada
        .join(
            "room:lobby",
            "1",
            json!({"key": "ada", "meta": {"device": "phone"}}),
        )
        .await;
    assert_eq!(frames.len(), 2);
    assert_eq!(
        frames[0],
        json!(["1", "1", "room:lobby", "phx_reply", {"status": "ok", "response": {}}])
    );
    assert_eq!(event(&frames[1]), "presence_state");
    assert_eq!(frames[1][0], "1");
    assert_eq!(frames[1][1], Value::Null);
    let metas = &frames[1][4]["ada"]["metas"];
    assert_eq!(metas[0]["device"], "phone");
    assert!(metas[0]["phx_ref"].is_string());
    assert_eq!(world.keys("room:lobby"), ["ada"]);
}

#[tokio::test]
async fn each_client_sees_the_others_join_and_leave_as_diffs_for_its_topic_only() {
    let mut world = World::new().await;
    let mut ada = world.connect();
    let mut bob = world.connect();
    let mut eve = world.connect();
    ada.join("room:lobby", "1", json!({"key": "ada"})).await;
    eve.join("room:other", "1", json!({"key": "eve"})).await;
    world.dispatch();
    ada.queued();
    eve.queued();

    let frames = bob.join("room:lobby", "3", json!({"key": "bob"})).await;
    let state = &frames[1][4];
    assert!(state.get("ada").is_some() && state.get("bob").is_some());
    world.dispatch();
    let diffs = ada.queued_texts();
    assert_eq!(diffs.len(), 1);
    assert_eq!(diffs[0][0], Value::Null);
    assert_eq!(event(&diffs[0]), "presence_diff");
    assert!(diffs[0][4]["joins"].get("bob").is_some());
    assert_eq!(diffs[0][4]["leaves"], json!({}));
    assert!(eve.queued().is_empty(), "another topic's diff leaked");
    // Bob's own join reaches him too (phoenix.js dedupes it by phx_ref).
    let own = bob.queued_texts();
    assert_eq!(own.len(), 1);
    assert!(own[0][4]["joins"].get("bob").is_some());

    let replies = bob
        .send(json!(["3", "4", "room:lobby", "phx_leave", {}]))
        .await;
    assert_eq!(
        replies,
        vec![
            json!(["3", "4", "room:lobby", "phx_reply", {"status": "ok", "response": {}}]),
            json!(["3", "3", "room:lobby", "phx_close", {}]),
        ]
    );
    world.dispatch();
    let diffs = ada.queued_texts();
    assert_eq!(diffs.len(), 1);
    assert!(diffs[0][4]["leaves"].get("bob").is_some());
    assert!(
        bob.queued().is_empty(),
        "a left socket still receives diffs"
    );
    assert_eq!(world.keys("room:lobby"), ["ada"]);
}

#[tokio::test]
async fn a_meta_update_is_one_diff_with_phx_ref_prev() {
    let mut world = World::new().await;
    let mut ada = world.connect();
    let mut bob = world.connect();
    let joined = ada
        .join(
            "room",
            "1",
            json!({"key": "ada", "meta": {"status": "away"}}),
        )
        .await;
    let first_ref = joined[1][4]["ada"]["metas"][0]["phx_ref"].clone();
    bob.join("room", "1", json!({"key": "bob"})).await;
    world.dispatch();
    bob.queued();

    let replies = ada
        .send(json!(["1", "2", "room", "presence:update", {"meta": {"status": "online"}}]))
        .await;
    assert_eq!(status(&replies[0]), "ok");
    world.dispatch();
    let diffs = bob.queued_texts();
    assert_eq!(diffs.len(), 1);
    let join = &diffs[0][4]["joins"]["ada"]["metas"][0];
    assert_eq!(join["status"], "online");
    assert_eq!(join["phx_ref_prev"], first_ref);
    assert_eq!(
        diffs[0][4]["leaves"]["ada"]["metas"][0]["phx_ref"],
        first_ref
    );
}

#[tokio::test]
async fn closing_a_socket_untracks_everything_it_tracked() {
    let mut world = World::new().await;
    let mut ada = world.connect();
    let mut bob = world.connect();
    ada.join("room:a", "1", json!({"key": "ada"})).await;
    ada.join("room:b", "2", json!({"key": "ada"})).await;
    bob.join("room:a", "1", json!({"key": "bob"})).await;
    world.dispatch();
    bob.queued();

    ada.session.terminate().await;
    world.dispatch();
    assert_eq!(world.keys("room:a"), ["bob"]);
    assert!(world.keys("room:b").is_empty());
    assert_eq!(world.stored(), 1);
    let diffs = bob.queued_texts();
    assert_eq!(diffs.len(), 1);
    assert!(diffs[0][4]["leaves"].get("ada").is_some());
    assert_eq!(world.endpoint.hub.subscriptions(), 1);
}

#[tokio::test]
async fn joining_a_topic_again_closes_the_first_join_and_keeps_one_presence() {
    let mut world = World::new().await;
    let mut ada = world.connect();
    ada.join("room", "1", json!({"key": "ada"})).await;
    let frames = ada.join("room", "5", json!({"key": "ada"})).await;
    assert_eq!(frames[0], json!(["1", "1", "room", "phx_close", {}]));
    assert_eq!(status(&frames[1]), "ok");
    assert_eq!(frames[2][0], "5");
    assert_eq!(frames[2][4]["ada"]["metas"].as_array().unwrap().len(), 1);
    assert_eq!(world.stored(), 1);
    assert_eq!(world.endpoint.hub.subscriptions(), 1);
}

#[tokio::test]
async fn diffs_queued_for_a_replaced_join_are_not_written_after_the_new_state() {
    let mut world = World::new().await;
    let mut ada = world.connect();
    ada.join("room", "1", json!({"key": "ada"})).await;
    let mut elsewhere = world.connect();
    elsewhere.join("other", "1", json!({"key": "eve"})).await;
    ada.join("other", "2", json!({"key": "ada"})).await;
    world.dispatch();
    ada.queued();

    // Bob comes and goes while ada's task has not written the diffs yet.
    let mut bob = world.connect();
    bob.join("room", "1", json!({"key": "bob"})).await;
    bob.send(json!(["1", "2", "room", "phx_leave", {}])).await;
    elsewhere
        .send(json!(["1", "2", "other", "presence:update", {"meta": {"away": true}}]))
        .await;
    world.dispatch();

    // Ada joins room again: the new state has no bob, and the first join's diffs, which the
    // state already reflects, are dropped; diffs of her other topic are kept.
    let frames = ada.join("room", "3", json!({"key": "ada"})).await;
    assert_eq!(event(&frames[2]), "presence_state");
    assert!(frames[2][4].get("bob").is_none());
    let queued = ada.queued_texts();
    assert!(
        queued.iter().all(|frame| frame[2] != "room"),
        "a diff of the replaced join was written after the new state: {queued:?}"
    );
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(queued[0][2], "other");

    // The new join's diffs arrive.
    let mut cy = world.connect();
    cy.join("room", "1", json!({"key": "cy"})).await;
    world.dispatch();
    let queued = ada.queued_texts();
    assert!(
        queued
            .iter()
            .any(|frame| frame[2] == "room" && frame[4]["joins"].get("cy").is_some()),
        "{queued:?}"
    );
}

#[tokio::test]
async fn joins_without_usable_params_get_an_error_and_track_nothing() {
    let mut world = World::new().await;
    let mut bad = world.connect();
    for (index, params) in [
        json!({}),
        json!(null),
        json!({"key": 3}),
        json!({"key": "x", "meta": "not an object"}),
        json!({"key": "x", "meta": {"phx_ref": "forged"}}),
        json!({"key": "x", "sync": "carrier pigeon"}),
    ]
    .into_iter()
    .enumerate()
    {
        let join_ref = (index + 1).to_string();
        let frames = bad.join("room", &join_ref, params.clone()).await;
        assert_eq!(frames.len(), 1, "{params}");
        assert_eq!(status(&frames[0]), "error", "{params}");
        assert_eq!(frames[0][0], join_ref.as_str());
        assert!(!reason(&frames[0]).is_empty());
    }
    assert_eq!(world.stored(), 0);
    assert_eq!(world.endpoint.hub.subscriptions(), 0);
    assert!(bad.session.topics().is_empty());
}

#[tokio::test]
async fn oversized_metas_are_refused_at_join_and_at_update() {
    let config = ServerConfig {
        limits: beryl_core::Limits {
            max_meta_bytes: 64,
            ..beryl_core::Limits::default()
        },
        ..ServerConfig::default()
    };
    let mut world = World::with(config, ParamsJoin).await;
    let mut ada = world.connect();
    let big = "x".repeat(100);
    let frames = ada
        .join("room", "1", json!({"key": "ada", "meta": {"blob": big}}))
        .await;
    assert_eq!(status(&frames[0]), "error");
    assert!(reason(&frames[0]).contains("meta"));
    assert_eq!(world.stored(), 0);

    ada.join("room", "2", json!({"key": "ada", "meta": {"ok": true}}))
        .await;
    let replies = ada
        .send(json!(["2", "3", "room", "presence:update", {"meta": {"blob": big}}]))
        .await;
    assert_eq!(status(&replies[0]), "error");
    let replies = ada
        .send(json!(["2", "4", "room", "presence:update", {"status": "no meta"}]))
        .await;
    assert_eq!(status(&replies[0]), "error");
    let listed = world
        .service
        .with_state(|state| state.get_by_key("room", "ada"));
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].meta(), r#"{"ok":true}"#);
}

#[tokio::test]
async fn unknown_events_and_unjoined_topics_get_error_replies() {
    let mut world = World::new().await;
    let mut ada = world.connect();
    let replies = ada
        .send(json!(["9", "9", "room", "presence:update", {"meta": {}}]))
        .await;
    assert_eq!(status(&replies[0]), "error");
    assert!(reason(&replies[0]).contains("unmatched topic"));

    ada.join("room", "1", json!({"key": "ada"})).await;
    let replies = ada.send(json!(["1", "2", "room", "shout", {}])).await;
    assert_eq!(status(&replies[0]), "error");
    assert!(reason(&replies[0]).contains("unknown event"));
    let replies = ada.send(json!([null, "3", "phoenix", "reboot", {}])).await;
    assert_eq!(status(&replies[0]), "error");
    // A message carrying the join_ref of an earlier join is not applied to the current one.
    let replies = ada.send(json!(["0", "4", "room", "phx_leave", {}])).await;
    assert_eq!(status(&replies[0]), "error");
    assert_eq!(world.keys("room"), ["ada"]);
}

#[tokio::test]
async fn unreadable_frames_close_the_socket_and_others_keep_being_served() {
    let mut world = World::new().await;
    let mut bob = world.connect();
    bob.join("room", "1", json!({"key": "bob"})).await;
    world.dispatch();
    bob.queued();

    let mut bad = world.connect();
    bad.join("room", "1", json!({"key": "bad"})).await;
    for text in ["{not json", r#"["1","2","room"]"#, r#"{"topic":"room"}"#] {
        let step = bad.send_text(text).await;
        assert_eq!(step.close.unwrap().code, Close::INVALID, "{text}");
    }
    let huge = format!(
        r#"["1","2","room","presence:update",{{"meta":{{"x":"{}"}}}}]"#,
        "y".repeat(70_000)
    );
    assert_eq!(
        bad.send_text(&huge).await.close.unwrap().code,
        Close::TOO_BIG
    );
    assert_eq!(
        bad.session.receive_binary(&[1, 2, 3]).close.unwrap().code,
        Close::UNSUPPORTED
    );
    bad.session.terminate().await;
    world.dispatch();
    assert_eq!(world.keys("room"), ["bob"]);
    let replies = bob
        .send(json!([null, "7", "phoenix", "heartbeat", {}]))
        .await;
    assert_eq!(status(&replies[0]), "ok");
    let diffs = bob.queued_texts();
    assert_eq!(diffs.len(), 2, "bob sees bad join and leave");
}

#[tokio::test]
async fn a_flooding_socket_is_closed() {
    let config = ServerConfig {
        flood_burst: 5,
        flood_per_second: 1,
        ..ServerConfig::default()
    };
    let mut world = World::with(config, ParamsJoin).await;
    let mut client = world.connect();
    let start = Instant::now();
    let heartbeat = json!([null, "1", "phoenix", "heartbeat", {}]).to_string();
    for _ in 0..5 {
        let step = client.session.receive_text(&heartbeat, start).await;
        assert_eq!(step.close, None);
    }
    let step = client.session.receive_text(&heartbeat, start).await;
    assert_eq!(step.close.unwrap().code, Close::POLICY);
    // Once the rate allows again, the same socket would be served: the gate refills.
    let later = start + Duration::from_secs(2);
    assert_eq!(
        client.session.receive_text(&heartbeat, later).await.close,
        None
    );
}

#[tokio::test]
async fn a_join_whose_state_is_larger_than_the_outbound_budget_is_refused() {
    let config = ServerConfig {
        max_outbound_bytes: 2_000,
        ..ServerConfig::default()
    };
    let mut world = World::with(config, ParamsJoin).await;
    let meta = beryl_core::Meta::from_json(&json!({"blob": "x".repeat(900)}).to_string()).unwrap();
    world.service.with_state(|state| {
        for key in ["ada", "bob", "cy"] {
            state.track("room", key, key, &meta).unwrap();
        }
    });
    let mut late = world.connect();
    let frames = late.join("room", "1", json!({"key": "late"})).await;
    assert_eq!(frames.len(), 1);
    assert_eq!(status(&frames[0]), "error");
    assert!(
        reason(&frames[0]).contains("more than the 2000 this server sends one socket"),
        "{}",
        reason(&frames[0])
    );
    assert_eq!(world.keys("room"), ["ada", "bob", "cy"]);
    // Other topics stay open to it.
    let frames = late.join("small", "2", json!({"key": "late"})).await;
    assert_eq!(status(&frames[0]), "ok");
}

#[tokio::test]
async fn no_state_is_built_for_a_socket_that_has_not_taken_in_what_it_was_sent() {
    let config = ServerConfig {
        max_outbound_bytes: 4_000,
        ..ServerConfig::default()
    };
    let mut world = World::with(config, ParamsJoin).await;
    let mut behind = world.connect();
    behind.join("room", "1", json!({"key": "behind"})).await;
    // Diffs pile up in its queue: its task is not writing them.
    let blob = "x".repeat(700);
    let mut writer = world.connect();
    for index in 0..3 {
        writer
            .join(
                "room",
                &index.to_string(),
                json!({"key": "w", "meta": {"blob": blob}}),
            )
            .await;
    }
    world.dispatch();
    let frames = behind.join("other", "2", json!({"key": "behind"})).await;
    assert_eq!(status(&frames[0]), "error");
    assert!(
        reason(&frames[0]).contains("bytes it has not read yet"),
        "{}",
        reason(&frames[0])
    );
    assert!(world.keys("other").is_empty());
    // Once written, the socket may join again.
    behind.queued();
    let frames = behind.join("other", "3", json!({"key": "behind"})).await;
    assert_eq!(status(&frames[0]), "ok");
}

#[tokio::test]
async fn a_binary_sync_join_names_the_field_too_long_for_binary_frames() {
    let mut world = World::new().await;
    let mut client = world.connect();
    let long_ref = "r".repeat(300);
    let frames = client
        .join("room", &long_ref, json!({"key": "k", "sync": "crdt"}))
        .await;
    assert_eq!(status(&frames[0]), "error");
    assert!(
        reason(&frames[0]).starts_with("the join_ref is 300 bytes long"),
        "{}",
        reason(&frames[0])
    );
    let long_topic = "t".repeat(256);
    let frames = client
        .join(&long_topic, "1", json!({"key": "k", "sync": "crdt"}))
        .await;
    assert!(
        reason(&frames[0]).starts_with("the topic is 256 bytes long"),
        "{}",
        reason(&frames[0])
    );
    assert_eq!(world.stored(), 0);
    // JSON frames have no such limit.
    let frames = client
        .join(
            "room",
            &long_ref,
            json!({"key": "k", "sync": "crdt", "format": "json"}),
        )
        .await;
    assert_eq!(status(&frames[0]), "ok");
}

#[tokio::test]
async fn a_socket_may_join_only_so_many_topics() {
    let config = ServerConfig {
        max_channels_per_socket: 2,
        ..ServerConfig::default()
    };
    let mut world = World::with(config, ParamsJoin).await;
    let mut ada = world.connect();
    ada.join("a", "1", json!({"key": "ada"})).await;
    ada.join("b", "2", json!({"key": "ada"})).await;
    let frames = ada.join("c", "3", json!({"key": "ada"})).await;
    assert_eq!(status(&frames[0]), "error");
    assert!(reason(&frames[0]).contains("already joined 2 topics"));
    assert_eq!(world.stored(), 2);
}

#[tokio::test]
async fn a_join_hook_authorizes_and_derives_the_key() {
    let hook = |request: &JoinRequest<'_>| {
        let user = request
            .connect_params
            .get("user")
            .ok_or_else(|| "connect with ?user=NAME".to_owned())?;
        if request.topic.starts_with("admin:") {
            return Err(format!("{user} may not join {}", request.topic));
        }
        Ok(JoinGrant {
            key: user.clone(),
            meta: beryl_core::Meta::from_json(r#"{"via":"hook"}"#).unwrap(),
            sync: SyncMode::Phoenix,
        })
    };
    let mut world = World::with(ServerConfig::default(), hook).await;
    let mut anonymous = world.connect();
    let frames = anonymous.join("room", "1", json!({})).await;
    assert_eq!(reason(&frames[0]), "connect with ?user=NAME");

    let mut ada = world.connect_with(HashMap::from([("user".to_owned(), "ada".to_owned())]));
    let frames = ada.join("admin:root", "1", json!({})).await;
    assert_eq!(status(&frames[0]), "error");
    let frames = ada.join("room", "2", json!({"key": "ignored"})).await;
    assert_eq!(status(&frames[0]), "ok");
    assert_eq!(frames[1][4]["ada"]["metas"][0]["via"], "hook");
}

fn decode(frame: &Outbound, join_ref: Option<&str>) -> Message {
    let Outbound::Binary(bytes) = frame else {
        panic!("expected a binary frame, got {frame:?}");
    };
    let payload = match (bytes[0], join_ref) {
        (0, Some(join_ref)) => {
            let (ref_len, topic_len, event_len) =
                (bytes[1] as usize, bytes[2] as usize, bytes[3] as usize);
            assert_eq!(&bytes[4..4 + ref_len], join_ref.as_bytes());
            let event_at = 4 + ref_len + topic_len;
            assert_eq!(&bytes[event_at..event_at + event_len], b"beryl_sync");
            &bytes[event_at + event_len..]
        }
        (2, None) => {
            let (topic_len, event_len) = (bytes[1] as usize, bytes[2] as usize);
            &bytes[3 + topic_len + event_len..]
        }
        (kind, _) => panic!("unexpected binary frame kind {kind}"),
    };
    wire::decode_binary(payload, &WireLimits::default()).unwrap()
}

fn merge(client: &mut PresenceState, message: Message) {
    match message {
        Message::Delta { delta, .. } => {
            client.merge(delta);
        }
        Message::Liveness {
            replica, status, ..
        } => {
            let _ = match status {
                beryl_core::ReplicaStatus::Up => client.replica_up(&replica),
                beryl_core::ReplicaStatus::Down => client.replica_down(&replica),
                beryl_core::ReplicaStatus::Removed => client.remove_replica(&replica),
            };
        }
        other => panic!("unexpected message {other:?}"),
    }
}

fn listing(state: &PresenceState, topic: &str) -> Vec<(String, String)> {
    state
        .list(topic)
        .into_iter()
        .flat_map(|group| group.into_presences())
        .map(|presence| (presence.key().to_owned(), presence.phx_ref().to_string()))
        .collect()
}

#[tokio::test]
async fn a_crdt_client_gets_the_state_then_deltas_and_tolerates_duplicates_and_reordering() {
    let mut world = World::new().await;
    let mut phoenix_client = world.connect();
    phoenix_client
        .join("room", "1", json!({"key": "ada"}))
        .await;
    phoenix_client
        .join("elsewhere", "2", json!({"key": "ada"}))
        .await;
    world.dispatch();

    let mut crdt = world.connect();
    let step = crdt
        .send_text(
            &json!(["7", "7", "room", "phx_join", {"key": "me", "sync": "crdt"}]).to_string(),
        )
        .await;
    assert_eq!(step.close, None);
    assert_eq!(step.frames.len(), 2, "reply, then the state (no verdicts)");
    assert_eq!(texts(vec![step.frames[0].clone()])[0][4]["status"], "ok");
    let mut replica = PresenceState::new(ReplicaId::new("browser", 1));
    merge(&mut replica, decode(&step.frames[1], Some("7")));

    // Later changes, in several topics; deliveries then duplicated and reordered.
    let mut others = Vec::new();
    for key in ["bob", "cy", "dee"] {
        let mut client = world.connect();
        client.join("room", "1", json!({"key": key})).await;
        others.push(client);
    }
    others[0]
        .send(json!(["1", "2", "room", "presence:update", {"meta": {"away": true}}]))
        .await;
    others[1].session.terminate().await;
    phoenix_client
        .join("third", "3", json!({"key": "ada"}))
        .await;
    world.dispatch();
    let mut deliveries: Vec<Message> = crdt
        .queued()
        .iter()
        .map(|frame| decode(frame, None))
        .collect();
    assert!(!deliveries.is_empty());
    let copies = deliveries.clone();
    deliveries.extend(copies);
    deliveries.reverse();
    deliveries.swap(0, 3);
    for message in deliveries {
        merge(&mut replica, message);
    }
    let server = world.service.with_state(|state| listing(state, "room"));
    assert_eq!(listing(&replica, "room"), server);
    let keys: Vec<&str> = server.iter().map(|(key, _)| key.as_str()).collect();
    assert_eq!(keys, ["ada", "bob", "dee", "me"]);
    assert!(replica.list("elsewhere").is_empty());
}

#[tokio::test]
async fn a_crdt_client_on_json_gets_json_messages_and_liveness_verdicts() {
    let mut world = World::new().await;
    let other = ReplicaId::new("other", 1);
    // A remote replica's presence, then the server's verdict that it is down.
    let mut remote = PresenceState::new(other.clone());
    let tracked = remote
        .track("room", "far", "p", &beryl_core::Meta::empty())
        .unwrap();
    world.service.with_state(|state| {
        state.merge(tracked.delta());
        state.replica_down(&other).unwrap();
    });

    let mut crdt = world.connect();
    let frames = crdt
        .join(
            "room",
            "4",
            json!({"key": "me", "sync": "crdt", "format": "json"}),
        )
        .await;
    assert_eq!(frames.len(), 3, "reply, state, one verdict");
    assert_eq!(event(&frames[1]), "beryl_sync");
    assert_eq!(frames[1][0], "4");
    let mut replica = PresenceState::new(ReplicaId::new("browser", 1));
    for frame in &frames[1..] {
        let message = wire::decode_json(&frame[4].to_string(), &WireLimits::default()).unwrap();
        merge(&mut replica, message);
    }
    let server = world.service.with_state(|state| listing(state, "room"));
    assert_eq!(listing(&replica, "room"), server);
    assert_eq!(server.len(), 1, "only me: far is hidden");

    // The replica comes back: the verdict reaches the client, which shows it again.
    let diff = world
        .service
        .with_state(|state| state.replica_up(&other).unwrap());
    world.service.emit(vec![
        ServiceEvent::Diff(Arc::new(diff)),
        ServiceEvent::Liveness {
            replica: other.clone(),
            status: beryl_core::ReplicaStatus::Up,
        },
    ]);
    world.dispatch();
    for frame in crdt.queued_texts() {
        let message = wire::decode_json(&frame[4].to_string(), &WireLimits::default()).unwrap();
        merge(&mut replica, message);
    }
    let server = world.service.with_state(|state| listing(state, "room"));
    assert_eq!(server.len(), 2);
    assert_eq!(listing(&replica, "room"), server);
}

#[tokio::test]
async fn a_slow_socket_is_told_to_close_instead_of_skipping_changes() {
    let config = ServerConfig {
        outbound_queue: 2,
        ..ServerConfig::default()
    };
    let mut world = World::with(config, ParamsJoin).await;
    let (link, _queue, overflow) = SocketLink::new(99, 2);
    world
        .endpoint
        .hub
        .subscribe("room", link, "1", SyncMode::Phoenix);
    let mut writer = world.connect();
    for index in 0..3 {
        writer
            .join(
                &format!("t{index}"),
                &index.to_string(),
                json!({"key": "k"}),
            )
            .await;
        writer
            .join("room", &format!("r{index}"), json!({"key": "k"}))
            .await;
    }
    world.dispatch();
    // The overflow signal holds a permit: this completes at once.
    tokio::time::timeout(Duration::from_secs(5), overflow.notified())
        .await
        .expect("the overflow was signalled");
}

#[tokio::test]
async fn a_quiet_topics_crdt_client_gets_other_topics_churn_as_one_context_per_interval() {
    let mut world = World::new().await;
    // Entries that are in place before the CRDT client joins, in its topic and another.
    let mut old_timer = world.connect();
    old_timer
        .join("room:quiet", "1", json!({"key": "old-timer"}))
        .await;
    let mut resident = world.connect();
    resident
        .join("room:busy", "1", json!({"key": "resident"}))
        .await;
    world.dispatch();

    let mut quiet = world.connect();
    let frames = quiet
        .join(
            "room:quiet",
            "9",
            json!({"key": "lonely", "sync": "crdt", "format": "json"}),
        )
        .await;
    let mut replica = PresenceState::new(ReplicaId::new("browser", 1));
    merge_json_frames(&mut replica, &frames[1..]);
    // A CRDT client of the busy topic too: deltas of its own topic keep reaching it at once.
    let mut busy_crdt = world.connect();
    let frames = busy_crdt
        .join(
            "room:busy",
            "3",
            json!({"key": "watcher", "sync": "crdt", "format": "json"}),
        )
        .await;
    let mut busy_replica = PresenceState::new(ReplicaId::new("browser", 2));
    merge_json_frames(&mut busy_replica, &frames[1..]);
    world.dispatch();
    quiet.queued();
    merge_json_frames(&mut busy_replica, &busy_crdt.queued_texts());

    // Churn in other topics: joins, leaves, updates, a socket closing.
    let mut churners: Vec<Client> = (0..10).map(|_| world.connect()).collect();
    let mut cycles = 0;
    for round in 0..20 {
        for (index, churner) in churners.iter_mut().enumerate() {
            let topic = format!("room:busy{}", index % 2);
            churner
                .join(
                    &topic,
                    &format!("{round}"),
                    json!({"key": format!("c{index}")}),
                )
                .await;
            churner
                .send(json!([format!("{round}"), "l", topic, "phx_leave", {}]))
                .await;
            cycles += 1;
        }
        churners[round % 10]
            .join("room:busy", &format!("b{round}"), json!({"key": "busy"}))
            .await;
        world.dispatch();
        assert!(
            quiet.queued().is_empty(),
            "nothing of its topic changed: nothing is sent before the flush"
        );
    }
    churners[3].session.terminate().await;
    world.dispatch();
    assert!(cycles >= 200);
    assert!(quiet.queued().is_empty());
    let busy_frames = busy_crdt.queued_texts();
    assert!(
        !busy_frames.is_empty(),
        "the busy topic's own changes go out at once"
    );
    merge_json_frames(&mut busy_replica, &busy_frames);
    world.endpoint.hub.flush_withheld();
    // The busy topic's flush leaves out the deltas it already had: they add its entries, and
    // their context sent alone would remove them.
    merge_json_frames(&mut busy_replica, &busy_crdt.queued_texts());
    let server_busy = world
        .service
        .with_state(|state| listing(state, "room:busy"));
    assert_eq!(listing(&busy_replica, "room:busy"), server_busy);
    assert!(server_busy.iter().any(|(key, _)| key == "resident"));
    assert!(server_busy.iter().any(|(key, _)| key == "busy"));
    let flushed = quiet.queued_texts();
    assert_eq!(flushed.len(), 1, "one context for the whole interval");
    assert_eq!(
        flushed[0][4]["delta"]["entries"],
        json!([]),
        "{}",
        flushed[0]
    );
    merge_json_frames(&mut replica, &flushed);
    // Nothing withheld since: the next flush sends nothing.
    world.endpoint.hub.flush_withheld();
    assert!(quiet.queued().is_empty());

    // Changes to the topic's own entries are not held back: a join, an update, a leave.
    let mut visitor = world.connect();
    visitor
        .join("room:quiet", "1", json!({"key": "visitor"}))
        .await;
    world.dispatch();
    let frames = quiet.queued_texts();
    assert_eq!(frames.len(), 1);
    merge_json_frames(&mut replica, &frames);
    assert!(
        listing(&replica, "room:quiet")
            .iter()
            .any(|(key, _)| key == "visitor")
    );
    old_timer
        .send(json!(["1", "u", "room:quiet", "presence:update", {"meta": {"away": true}}]))
        .await;
    visitor
        .send(json!(["1", "l", "room:quiet", "phx_leave", {}]))
        .await;
    world.dispatch();
    let frames = quiet.queued_texts();
    assert_eq!(frames.len(), 2, "the update and the leave, each at once");
    merge_json_frames(&mut replica, &frames);
    let server = world
        .service
        .with_state(|state| listing(state, "room:quiet"));
    assert_eq!(listing(&replica, "room:quiet"), server);
    assert_eq!(server.len(), 2, "old-timer and lonely: {server:?}");

    // More churn elsewhere, then the flush: the client ends with exactly the server's list and
    // the server's whole context.
    for (churner, index) in churners[5..].iter_mut().zip(5..) {
        churner
            .join("room:busy1", "z", json!({"key": format!("late{index}")}))
            .await;
    }
    world.dispatch();
    world.endpoint.hub.flush_withheld();
    merge_json_frames(&mut replica, &quiet.queued_texts());
    let server = world
        .service
        .with_state(|state| listing(state, "room:quiet"));
    assert_eq!(listing(&replica, "room:quiet"), server);
    let projection = world
        .service
        .with_state(|state| state.topic_projection("room:quiet"));
    assert_eq!(replica.context(), projection.context());
    assert!(replica.list("room:busy").is_empty());
}

/// Applies every frame a CRDT sync socket on JSON received, in order.
fn merge_json_frames(replica: &mut PresenceState, frames: &[Value]) {
    for frame in frames {
        assert_eq!(event(frame), "beryl_sync");
        let message = wire::decode_json(&frame[4].to_string(), &WireLimits::default()).unwrap();
        merge(replica, message);
    }
}

#[tokio::test]
async fn after_lost_events_every_socket_is_resynced_with_the_current_state_and_verdicts() {
    let mut world = World::new().await;
    let far = ReplicaId::new("far", 1);
    let mut remote = PresenceState::new(far.clone());
    let tracked = remote
        .track("room", "far-user", "p", &beryl_core::Meta::empty())
        .unwrap();
    let diff = world
        .service
        .with_state(|state| state.merge(tracked.delta()));
    world.service.emit(vec![ServiceEvent::Diff(Arc::new(diff))]);

    let mut ada = world.connect();
    ada.join("room", "1", json!({"key": "ada"})).await;
    let mut crdt = world.connect();
    let joined = crdt
        .join(
            "room",
            "2",
            json!({"key": "crdt", "sync": "crdt", "format": "json"}),
        )
        .await;
    let mut replica = PresenceState::new(ReplicaId::new("browser", 1));
    merge_json_frames(&mut replica, &joined[1..]);
    world.dispatch();
    merge_json_frames(&mut replica, &crdt.queued_texts());
    ada.queued();
    assert_eq!(
        listing(&replica, "room").len(),
        3,
        "far-user, ada and crdt before the lag"
    );

    // More changes than the queue holds; the verdict that hides far is among those lost.
    let mut others = Vec::new();
    for index in 0..EVENT_QUEUE {
        let mut client = world.connect();
        client
            .join("room", "1", json!({"key": format!("user-{index}")}))
            .await;
        others.push(client);
    }
    for client in others.iter_mut().step_by(2) {
        client.session.terminate().await;
    }
    let diff = world
        .service
        .with_state(|state| state.replica_down(&far).unwrap());
    world.service.emit(vec![
        ServiceEvent::Diff(Arc::new(diff)),
        ServiceEvent::Liveness {
            replica: far.clone(),
            status: beryl_core::ReplicaStatus::Down,
        },
    ]);
    // The queue is drained, and the next change finds room for the lag signal first.
    let mut lagged = 0;
    for round in 0..2 {
        while let Ok(event) = world.events.try_recv() {
            if !world.endpoint.hub.dispatch(&event) {
                lagged += 1;
                world.endpoint.hub.resync(&world.service).await;
            }
        }
        if round == 0 {
            others[1].session.terminate().await;
        }
    }
    assert_eq!(lagged, 1, "one gap, one resync");

    // The Phoenix socket's last presence_state (with its join_ref) is the server's list.
    let frames = ada.queued_texts();
    let state = frames
        .iter()
        .rev()
        .find(|frame| event(frame) == "presence_state")
        .expect("a presence_state after the lag");
    assert_eq!(state[0], "1");
    let mut shown: Vec<&str> = state[4]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    shown.sort_unstable();
    let mut expected = world.keys("room");
    expected.sort_unstable();
    assert_eq!(shown, expected);
    assert!(!shown.contains(&"far-user"));

    // The CRDT socket, having missed the down verdict, hides far again from the resync.
    let frames = crdt.queued_texts();
    assert!(
        frames.iter().any(|frame| frame[0] == "2"),
        "the resync frames carry the join_ref"
    );
    merge_json_frames(&mut replica, &frames);
    let server = world.service.with_state(|state| listing(state, "room"));
    assert_eq!(listing(&replica, "room"), server);
    assert!(!server.iter().any(|(key, _)| key == "far-user"));
}

#[tokio::test]
async fn when_the_service_stops_each_channel_gets_phx_error_and_the_socket_stays_usable() {
    let mut world = World::new().await;
    let mut ada = world.connect();
    ada.join("room", "1", json!({"key": "ada"})).await;
    ada.join("other", "2", json!({"key": "ada"})).await;
    let mut crdt = world.connect();
    crdt.join(
        "room",
        "7",
        json!({"key": "crdt", "sync": "crdt", "format": "json"}),
    )
    .await;
    world.dispatch();
    ada.queued();
    crdt.queued();

    world.service.stop();
    let events = std::mem::replace(&mut world.events, mpsc::channel(1).1);
    tokio::time::timeout(
        Duration::from_secs(5),
        run_dispatcher(
            world.endpoint.hub.clone(),
            world.service.clone(),
            events,
            Duration::from_secs(1),
        ),
    )
    .await
    .expect("the dispatcher ends with the service");
    let mut errors = ada.queued_texts();
    errors.sort_by_key(|frame| frame[2].as_str().unwrap().to_owned());
    assert_eq!(
        errors,
        vec![
            json!(["2", "2", "other", "phx_error", {}]),
            json!(["1", "1", "room", "phx_error", {}]),
        ]
    );
    assert_eq!(
        crdt.queued_texts(),
        vec![json!(["7", "7", "room", "phx_error", {}])]
    );
    assert_eq!(world.endpoint.hub.subscriptions(), 0);

    // A push on a failed channel gets phx_error too, never a close of the whole socket.
    let step = ada
        .send_text(&json!(["1", "3", "room", "presence:update", {"meta": {}}]).to_string())
        .await;
    assert_eq!(step.close, None);
    assert_eq!(
        texts(step.frames),
        vec![json!(["1", "1", "room", "phx_error", {}])]
    );
    let replies = ada
        .send(json!([null, "4", "phoenix", "heartbeat", {}]))
        .await;
    assert_eq!(status(&replies[0]), "ok");
    // The rejoin phoenix.js makes is refused while the service is down.
    let replies = ada.join("room", "5", json!({"key": "ada"})).await;
    assert_eq!(replies.len(), 1);
    assert_eq!(status(&replies[0]), "error");
    assert!(reason(&replies[0]).contains("stopped"), "{replies:?}");
    assert_eq!(
        world.endpoint.hub.subscriptions(),
        0,
        "a refused rejoin subscribes nothing"
    );
}

#[tokio::test(start_paused = true)]
async fn a_node_resyncs_crdt_and_phoenix_sockets_with_verdicts_lost_in_a_lag() {
    use crate::pubsub::{FaultPlan, FaultyPubSub, LocalBus, NodeId};
    use crate::{Config, Presence};

    let interval = Duration::from_millis(50);
    let config = |name: &str| {
        Config::new(name)
            .broadcast_interval(interval)
            .down_period(interval * 10)
            .permanent_down_period(interval * 200)
            .replication_feed(true)
    };
    let bus = LocalBus::new();
    let a_pubsub = Arc::new(FaultyPubSub::new(Arc::new(bus.node("a")), 1));
    let a = Presence::start(config("a").pubsub(a_pubsub.clone()))
        .await
        .unwrap();
    let b = Presence::start(config("b").pubsub(Arc::new(bus.node("b"))))
        .await
        .unwrap();
    a.track("room", "ada", "p1", beryl_core::Meta::empty())
        .await
        .unwrap();
    b.track("room", "bob", "p2", beryl_core::Meta::empty())
        .await
        .unwrap();
    tokio::time::sleep(interval * 4).await;
    assert_eq!(a.list("room").len(), 2);

    let hub = Hub::new(a.replica().clone());
    let (crdt_link, mut crdt_queue, _) = SocketLink::new(1, 1024);
    let (phoenix_link, mut phoenix_queue, _) = SocketLink::new(2, 1024);
    let mut events = PresenceService::subscribe(&a).await.unwrap();
    hub.subscribe("room", crdt_link, "7", SyncMode::Crdt(SyncFormat::Json));
    hub.subscribe("room", phoenix_link, "8", SyncMode::Phoenix);
    let snapshot = a.sync_snapshot("room").await.unwrap();
    let mut client = PresenceState::new(ReplicaId::new("browser", 1));
    let frames = snapshot_frames(a.replica(), "room", "7", SyncFormat::Json, &snapshot);
    merge_json_frames(&mut client, &texts(frames));
    assert_eq!(listing(&client, "room").len(), 2);
    let drain = |queue: &mut mpsc::Receiver<Queued>| {
        let mut frames = Vec::new();
        while let Ok(queued) = queue.try_recv() {
            frames.push(queued.frame);
        }
        texts(frames)
    };

    // a stops hearing b and marks it down; the events saying so are lost.
    a_pubsub.set_plan(FaultPlan {
        partitioned_from: [NodeId::new("b")].into_iter().collect(),
        ..FaultPlan::default()
    });
    tokio::time::sleep(interval * 15).await;
    assert_eq!(a.list("room").len(), 1, "b is down for a");
    while events.try_recv().is_ok() {}
    hub.resync(&a).await;
    merge_json_frames(&mut client, &drain(&mut crdt_queue));
    let server = listing_of(&a, "room");
    assert_eq!(listing(&client, "room"), server);
    assert_eq!(server.len(), 1);
    let phoenix_frames = drain(&mut phoenix_queue);
    assert_eq!(phoenix_frames.len(), 1);
    assert_eq!(event(&phoenix_frames[0]), "presence_state");
    assert_eq!(phoenix_frames[0][0], "8");
    assert_eq!(phoenix_frames[0][4].as_object().unwrap().len(), 1);

    // b is heard again: from here the events flow, and the client shows bob again.
    a_pubsub.heal();
    tokio::time::sleep(interval * 6).await;
    assert_eq!(a.list("room").len(), 2);
    while let Ok(event) = events.try_recv() {
        assert!(hub.dispatch(&event));
    }
    merge_json_frames(&mut client, &drain(&mut crdt_queue));
    assert_eq!(listing(&client, "room"), listing_of(&a, "room"));
    a.stop().await.unwrap();
    b.stop().await.unwrap();
}

fn listing_of(node: &crate::PresenceHandle, topic: &str) -> Vec<(String, String)> {
    node.list(topic)
        .into_iter()
        .map(|presence| (presence.key().to_owned(), presence.phx_ref().to_string()))
        .collect()
}
