//! The WebSocket endpoint over real sockets: a client that stops reading, and a presence
//! service that stops under joined channels.

#![cfg(feature = "server")]

use std::net::SocketAddr;
use std::time::Duration;

use beryl_native::server::{Server, ServerConfig};
use beryl_native::{Config, Presence, PresenceHandle};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

type Client = WebSocketStream<TcpStream>;

/// Starts a node and a server on a loopback port. `send_buffer` shrinks the kernel send
/// buffer of the listening socket, which accepted sockets inherit.
async fn start_server(
    config: ServerConfig,
    send_buffer: Option<u32>,
) -> (SocketAddr, PresenceHandle) {
    let node = Presence::start(Config::new("socket-test").replication_feed(true))
        .await
        .expect("start the node");
    let socket = TcpSocket::new_v4().expect("a socket");
    if let Some(size) = send_buffer {
        socket.set_send_buffer_size(size).expect("SO_SNDBUF");
    }
    socket.bind("127.0.0.1:0".parse().unwrap()).expect("bind");
    let listener = socket.listen(128).expect("listen");
    let address = listener.local_addr().unwrap();
    let server = Server::new(node.clone()).config(config);
    tokio::spawn(server.serve(listener, std::future::pending()));
    (address, node)
}

/// A WebSocket client; `receive_buffer` shrinks its kernel receive buffer.
async fn connect(address: SocketAddr, receive_buffer: Option<u32>) -> Client {
    let socket = TcpSocket::new_v4().expect("a socket");
    if let Some(size) = receive_buffer {
        socket.set_recv_buffer_size(size).expect("SO_RCVBUF");
    }
    let stream = socket.connect(address).await.expect("connect");
    let url = format!("ws://{address}/socket/websocket?vsn=2.0.0");
    let (client, _) = tokio_tungstenite::client_async(url, stream)
        .await
        .expect("the WebSocket handshake");
    client
}

async fn send(client: &mut Client, frame: Value) {
    client
        .send(Message::text(frame.to_string()))
        .await
        .expect("send a frame");
}

/// The next text frame, as JSON.
async fn next_frame(client: &mut Client) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), client.next())
            .await
            .expect("a frame within 5 s")
            .expect("an open socket")
            .expect("a readable frame");
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).expect("a JSON frame");
        }
    }
}

/// Reads frames until the reply to `msg_ref`, and returns it.
async fn reply_to(client: &mut Client, msg_ref: &str) -> Value {
    loop {
        let frame = next_frame(client).await;
        if frame[1] == msg_ref && frame[3] == "phx_reply" {
            return frame;
        }
    }
}

/// A client connected (with the given receive buffer) that joined `room` as `key`, its join
/// sent with the ref `msg_ref` and answered ok.
async fn joined(
    address: SocketAddr,
    receive_buffer: Option<u32>,
    msg_ref: &str,
    key: &str,
) -> Client {
    let mut client = connect(address, receive_buffer).await;
    send(
        &mut client,
        json!([msg_ref, msg_ref, "room", "phx_join", {"key": key}]),
    )
    .await;
    assert_eq!(reply_to(&mut client, msg_ref).await[4]["status"], "ok");
    client
}

fn keys(node: &PresenceHandle, topic: &str) -> Vec<String> {
    node.list(topic)
        .into_iter()
        .map(|presence| presence.key().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_dropped_and_untracked_while_others_are_served() {
    let config = ServerConfig {
        write_timeout: Duration::from_millis(300),
        // Long enough that only a stuck write can end the socket within the test.
        heartbeat_timeout: Duration::from_secs(600),
        flood_burst: 10_000,
        flood_per_second: 10_000,
        ..ServerConfig::default()
    };
    let (address, node) = start_server(config, Some(4096)).await;

    let stuck = joined(address, Some(4096), "1", "stuck").await;
    // From here on the stuck client never reads again.

    let watcher = connect(address, None).await;
    let (mut to_watcher, mut from_watcher) = watcher.split();
    let (frames, mut watcher_frames) = mpsc::unbounded_channel::<Value>();
    tokio::spawn(async move {
        while let Some(Ok(message)) = from_watcher.next().await {
            if let Message::Text(text) = message {
                if frames.send(serde_json::from_str(&text).unwrap()).is_err() {
                    break;
                }
            }
        }
    });
    to_watcher
        .send(Message::text(
            json!(["2", "2", "room", "phx_join", {"key": "watcher"}]).to_string(),
        ))
        .await
        .unwrap();

    // Large metas fill the stuck client's buffers within a few diffs.
    let blob = "x".repeat(8 * 1024);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let mut updates = 0;
    let stuck_left = 'pushing: loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stuck client is still listed after {updates} updates: {:?}",
            keys(&node, "room")
        );
        updates += 1;
        let msg_ref = format!("u{updates}");
        to_watcher
            .send(Message::text(
                json!(["2", msg_ref, "room", "presence:update", {"meta": {"blob": blob}}])
                    .to_string(),
            ))
            .await
            .unwrap();
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(5), watcher_frames.recv())
                .await
                .expect("the watcher is served")
                .expect("the watcher's socket is open");
            if frame[3] == "presence_diff" && frame[4]["leaves"].get("stuck").is_some() {
                break 'pushing frame;
            }
            if frame[1] == msg_ref.as_str() {
                assert_eq!(frame[4]["status"], "ok");
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(stuck_left[4]["joins"].as_object().unwrap().is_empty());
    assert_eq!(keys(&node, "room"), ["watcher"]);

    // The watcher goes on being served.
    to_watcher
        .send(Message::text(
            json!([null, "hb", "phoenix", "heartbeat", {}]).to_string(),
        ))
        .await
        .unwrap();
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), watcher_frames.recv())
            .await
            .expect("a heartbeat reply")
            .unwrap();
        if frame[1] == "hb" {
            assert_eq!(frame[4]["status"], "ok");
            break;
        }
    }
    drop(stuck);
    node.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_service_errors_each_joined_channel_and_keeps_the_socket_open() {
    let (address, node) = start_server(ServerConfig::default(), None).await;
    let mut client = joined(address, None, "1", "ada").await;
    assert_eq!(next_frame(&mut client).await[3], "presence_state");

    node.stop().await.unwrap();
    // Past the diff of the client's own join, the one frame phoenix.js answers by rejoining.
    let mut frame = next_frame(&mut client).await;
    while frame[3] == "presence_diff" {
        frame = next_frame(&mut client).await;
    }
    assert_eq!(frame, json!(["1", "1", "room", "phx_error", {}]));
    send(&mut client, json!([null, "2", "phoenix", "heartbeat", {}])).await;
    assert_eq!(reply_to(&mut client, "2").await[4]["status"], "ok");
    send(
        &mut client,
        json!(["3", "3", "room", "phx_join", {"key": "ada"}]),
    )
    .await;
    let refused = reply_to(&mut client, "3").await;
    assert_eq!(refused[4]["status"], "error");
    assert!(
        refused[4]["response"]["reason"]
            .as_str()
            .unwrap()
            .contains("stopped"),
        "{refused}"
    );
}

/// Sends pings without ever reading, until the server has untracked the client's presence and
/// closed the connection. Returns how many pings were sent.
async fn ping_until_dropped(client: &mut Client, node: &PresenceHandle, key: &str) -> usize {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut pings = 0;
    let mut connection_closed = false;
    loop {
        let listed = keys(node, "room").contains(&key.to_owned());
        if !listed && connection_closed {
            return pings;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "after {pings} pings the pinger is listed: {listed}, its connection closed: \
             {connection_closed}"
        );
        if connection_closed {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        for _ in 0..50 {
            let sent = tokio::time::timeout(
                Duration::from_millis(200),
                client.send(Message::Ping(vec![7u8; 125].into())),
            )
            .await;
            match sent {
                Ok(Ok(())) => pings += 1,
                // The server closed the connection.
                Ok(Err(_)) => {
                    connection_closed = true;
                    break;
                }
                // The server stopped reading: its buffers are full.
                Err(_) => break,
            }
        }
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_flood_counts_against_the_flood_limit_and_closes_the_socket() {
    let config = ServerConfig {
        heartbeat_timeout: Duration::from_secs(600),
        flood_burst: 200,
        flood_per_second: 100,
        ..ServerConfig::default()
    };
    let (address, node) = start_server(config, None).await;
    let mut watcher = joined(address, None, "1", "watcher").await;

    let mut pinger = joined(address, Some(4096), "1", "pinger").await;
    let pings = ping_until_dropped(&mut pinger, &node, "pinger").await;
    assert!(pings >= 200, "the burst of {pings} pings was allowed");
    assert_eq!(keys(&node, "room"), ["watcher"]);

    send(
        &mut watcher,
        json!([null, "hb", "phoenix", "heartbeat", {}]),
    )
    .await;
    assert_eq!(reply_to(&mut watcher, "hb").await[4]["status"], "ok");
    node.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_pings_but_never_reads_the_pongs_is_dropped() {
    let config = ServerConfig {
        write_timeout: Duration::from_millis(300),
        heartbeat_timeout: Duration::from_secs(600),
        // No flood limit in reach: only the unread pongs can end the socket.
        flood_burst: u32::MAX,
        flood_per_second: u32::MAX,
        ..ServerConfig::default()
    };
    let (address, node) = start_server(config, Some(4096)).await;
    let mut pinger = joined(address, Some(4096), "1", "pinger").await;
    ping_until_dropped(&mut pinger, &node, "pinger").await;
    assert!(keys(&node, "room").is_empty());
    node.stop().await.unwrap();
}

/// A plain TCP connection to the server from `local` (any address of 127.0.0.0/8).
async fn tcp_from(address: SocketAddr, local: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("a socket");
    socket
        .bind(format!("{local}:0").parse().unwrap())
        .expect("bind the client side");
    socket.connect(address).await.expect("connect")
}

/// Everything the server sends until it closes the connection, or `None` if it is still open
/// after `wait`.
async fn read_until_closed(stream: &mut TcpStream, wait: Duration) -> Option<String> {
    let mut received = Vec::new();
    match tokio::time::timeout(wait, stream.read_to_end(&mut received)).await {
        Ok(_) => Some(String::from_utf8_lossy(&received).into_owned()),
        Err(_) => None,
    }
}

async fn heartbeat(client: &mut Client, msg_ref: &str) {
    send(client, json!([null, msg_ref, "phoenix", "heartbeat", {}])).await;
    assert_eq!(reply_to(client, msg_ref).await[4]["status"], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_never_finish_their_request_head_are_closed() {
    let config = ServerConfig {
        header_read_timeout: Duration::from_millis(500),
        ..ServerConfig::default()
    };
    let (address, node) = start_server(config, None).await;
    let mut client = connect(address, None).await;

    let mut silent = tcp_from(address, "127.0.0.1").await;
    let mut partial = tcp_from(address, "127.0.0.1").await;
    partial
        .write_all(b"GET /socket/websocket?vsn=2.0.0 HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut trickler = tcp_from(address, "127.0.0.1").await;
    trickler.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    let trickle = tokio::spawn(async move {
        // A header line every 100 ms: each keeps the connection busy, none finishes the head.
        for index in 0..100 {
            let line = format!("X-Slow-{index}: a\r\n");
            if trickler.write_all(line.as_bytes()).await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    });

    for stream in [&mut silent, &mut partial] {
        assert!(
            read_until_closed(stream, Duration::from_secs(5))
                .await
                .is_some(),
            "the connection is still open"
        );
    }
    assert!(
        trickle.await.unwrap(),
        "the trickling connection was never closed"
    );
    // The WebSocket that finished its handshake stays open, though it was idle as long.
    heartbeat(&mut client, "hb").await;
    node.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_caps_are_refused_and_the_open_ones_served() {
    let config = ServerConfig {
        max_connections: 4,
        max_connections_per_peer: 3,
        ..ServerConfig::default()
    };
    let (address, node) = start_server(config, None).await;
    let mut sockets = Vec::new();
    for _ in 0..3 {
        sockets.push(connect(address, None).await);
    }
    // A fourth from the same address: refused with a reason, at once.
    let mut over_peer = tcp_from(address, "127.0.0.1").await;
    let refused = read_until_closed(&mut over_peer, Duration::from_secs(5))
        .await
        .expect("the refused connection is closed");
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused:?}");
    assert!(refused.contains("too many connections from your address"));
    // Another address still has room under the total cap, then the total is reached.
    let mut other_peer = tcp_from(address, "127.0.0.2").await;
    assert!(
        read_until_closed(&mut other_peer, Duration::from_millis(300))
            .await
            .is_none(),
        "a connection under both caps is kept"
    );
    let mut over_total = tcp_from(address, "127.0.0.3").await;
    let refused = read_until_closed(&mut over_total, Duration::from_secs(5))
        .await
        .expect("the refused connection is closed");
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused:?}");
    assert!(refused.contains("as many connections as it accepts"));

    // The open sockets are served.
    for (index, socket) in sockets.iter_mut().enumerate() {
        heartbeat(socket, &format!("hb{index}")).await;
    }
    // A socket that closes frees its place.
    let mut closing = sockets.pop().unwrap();
    closing.close(None).await.unwrap();
    while closing.next().await.is_some() {}
    drop(closing);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let url = format!("ws://{address}/socket/websocket?vsn=2.0.0");
        let stream = tcp_from(address, "127.0.0.1").await;
        if let Ok((mut client, _)) = tokio_tungstenite::client_async(url, stream).await {
            heartbeat(&mut client, "again").await;
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the closed socket's place was not freed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    node.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_over_its_outbound_budget_is_closed_without_waiting_for_the_write_timeout() {
    let config = ServerConfig {
        max_outbound_bytes: 64 * 1024,
        // Far beyond the test: only the budget can end the socket in time.
        write_timeout: Duration::from_secs(120),
        heartbeat_timeout: Duration::from_secs(600),
        flood_burst: 10_000,
        flood_per_second: 10_000,
        ..ServerConfig::default()
    };
    let (address, node) = start_server(config, Some(4096)).await;
    let stuck = joined(address, Some(4096), "1", "stuck").await;
    // From here on the stuck client never reads again.

    let mut writer = joined(address, None, "2", "writer").await;
    let blob = "x".repeat(8 * 1024);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut updates = 0;
    while keys(&node, "room").contains(&"stuck".to_owned()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stuck client is still listed after {updates} updates"
        );
        updates += 1;
        let msg_ref = format!("u{updates}");
        send(
            &mut writer,
            json!(["2", msg_ref, "room", "presence:update", {"meta": {"blob": blob}}]),
        )
        .await;
        assert_eq!(reply_to(&mut writer, &msg_ref).await[4]["status"], "ok");
    }
    assert_eq!(keys(&node, "room"), ["writer"]);
    heartbeat(&mut writer, "hb").await;
    drop(stuck);
    node.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_larger_than_a_fragment_arrives_whole() {
    let (address, node) = start_server(ServerConfig::default(), None).await;
    let blob = "é".repeat(7 * 1024);
    let mut clients = Vec::new();
    for index in 0..20 {
        let mut client = connect(address, None).await;
        let key = format!("user-{index}");
        send(
            &mut client,
            json!(["1", "1", "room", "phx_join", {"key": key, "meta": {"blob": blob}}]),
        )
        .await;
        assert_eq!(reply_to(&mut client, "1").await[4]["status"], "ok");
        clients.push(client);
    }
    let mut reader = joined(address, None, "1", "reader").await;
    let state = next_frame(&mut reader).await;
    assert_eq!(state[3], "presence_state");
    let users = state[4].as_object().unwrap();
    assert_eq!(users.len(), 21);
    assert_eq!(users["user-19"]["metas"][0]["blob"], blob.as_str());
    assert!(state.to_string().len() > 256 * 1024);
    node.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_package_file_is_a_404_that_does_not_show_the_servers_paths() {
    let node = Presence::start(Config::new("http-test")).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = Server::new(node.clone()).package_dir("/srv/private-build-dir/pkg");
    tokio::spawn(server.serve(listener, std::future::pending()));
    let mut stream = tcp_from(address, "127.0.0.1").await;
    stream
        .write_all(b"GET /pkg/beryl_presence.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let response = read_until_closed(&mut stream, Duration::from_secs(5))
        .await
        .expect("a response");
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
    assert!(
        response.contains("/pkg/beryl_presence.js not found"),
        "{response}"
    );
    assert!(!response.contains("private-build-dir"), "{response}");
    node.stop().await.unwrap();
}

/// Sends one text frame of `bytes` bytes and returns the close frame the server answers with.
async fn close_for_frame_of(address: SocketAddr, bytes: usize) -> (u16, String) {
    let mut client = connect(address, None).await;
    let text = format!(
        "[null,\"1\",\"phoenix\",\"heartbeat\",\"{}\"]",
        "x".repeat(bytes - 35)
    );
    assert_eq!(text.len(), bytes);
    client.send(Message::text(text)).await.expect("send");
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), client.next())
            .await
            .expect("an answer within 5 s");
        match message {
            Some(Ok(Message::Close(Some(frame)))) => {
                return (u16::from(frame.code), frame.reason.to_string());
            }
            Some(Ok(_)) => continue,
            other => panic!("the connection ended without a close frame: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frames_get_a_1009_close_with_a_reason_whatever_their_size() {
    let config = ServerConfig {
        max_frame_bytes: 64 * 1024,
        ..ServerConfig::default()
    };
    let (address, node) = start_server(config, None).await;
    for bytes in [100 * 1024, 200 * 1024, 1024 * 1024] {
        let (code, reason) = close_for_frame_of(address, bytes).await;
        assert_eq!(code, 1009, "{bytes}: {reason}");
        assert!(reason.contains("65536"), "{bytes}: {reason}");
    }
    node.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_topics_crdt_client_gets_a_bounded_number_of_frames_while_other_topics_churn() {
    use beryl_core::wire::{WireLimits, decode_json};
    use beryl_core::{Message as Sync, PresenceState, ReplicaId};

    const INTERVAL: Duration = Duration::from_millis(200);
    let config = ServerConfig {
        crdt_context_interval: INTERVAL,
        flood_burst: 10_000,
        flood_per_second: 10_000,
        ..ServerConfig::default()
    };
    let (address, node) = start_server(config, None).await;
    let mut old_timer = connect(address, None).await;
    send(
        &mut old_timer,
        json!(["1", "1", "room:quiet", "phx_join", {"key": "old-timer"}]),
    )
    .await;
    assert_eq!(reply_to(&mut old_timer, "1").await[4]["status"], "ok");

    let mut quiet = connect(address, None).await;
    send(
        &mut quiet,
        json!(["9", "9", "room:quiet", "phx_join",
               {"key": "lonely", "sync": "crdt", "format": "json"}]),
    )
    .await;
    assert_eq!(reply_to(&mut quiet, "9").await[4]["status"], "ok");
    let (frames, mut received) = mpsc::unbounded_channel::<Value>();
    tokio::spawn(async move {
        while let Some(Ok(message)) = quiet.next().await {
            if let Message::Text(text) = message {
                if frames.send(serde_json::from_str(&text).unwrap()).is_err() {
                    break;
                }
            }
        }
    });
    let mut replica = PresenceState::new(ReplicaId::new("browser", 1));
    let mut merge_all = |received: &mut mpsc::UnboundedReceiver<Value>| {
        let mut count = 0;
        while let Ok(frame) = received.try_recv() {
            assert_eq!(frame[3], "beryl_sync");
            match decode_json(&frame[4].to_string(), &WireLimits::default()).unwrap() {
                Sync::Delta { delta, .. } => {
                    replica.merge(delta);
                }
                other => panic!("unexpected {other:?}"),
            }
            count += 1;
        }
        count
    };
    tokio::time::sleep(INTERVAL * 2).await;
    assert!(merge_all(&mut received) >= 1, "the initial state");

    // Churn in two other topics: 150 joins and as many leaves, as fast as they are answered.
    let mut churner = connect(address, None).await;
    let started = tokio::time::Instant::now();
    for cycle in 0..150 {
        let topic = format!("room:busy{}", cycle % 2);
        let join = format!("j{cycle}");
        send(
            &mut churner,
            json!([join, join, topic, "phx_join", {"key": "churner"}]),
        )
        .await;
        assert_eq!(reply_to(&mut churner, &join).await[4]["status"], "ok");
        let leave = format!("l{cycle}");
        send(&mut churner, json!([join, leave, topic, "phx_leave", {}])).await;
        assert_eq!(reply_to(&mut churner, &leave).await[4]["status"], "ok");
    }
    // Entries that stay in another topic: their dots belong in the client's context too.
    send(
        &mut churner,
        json!(["s", "s", "room:busy0", "phx_join", {"key": "stays"}]),
    )
    .await;
    assert_eq!(reply_to(&mut churner, "s").await[4]["status"], "ok");
    tokio::time::sleep(INTERVAL * 3).await;
    let intervals = started.elapsed().as_millis() / INTERVAL.as_millis() + 1;
    let frames = merge_all(&mut received);
    assert!(
        frames as u128 <= intervals + 1,
        "{frames} frames in {intervals} intervals for 301 changes elsewhere"
    );

    let server: Vec<String> = keys(&node, "room:quiet");
    let mut shown: Vec<String> = replica
        .list("room:quiet")
        .iter()
        .map(|group| group.key().to_owned())
        .collect();
    shown.sort();
    assert_eq!(shown, server);
    let projection = node
        .topic_snapshot("room:quiet")
        .await
        .unwrap()
        .expect("the node offers CRDT sync");
    assert_eq!(replica.context(), projection.delta.context());
    node.stop().await.unwrap();
}
