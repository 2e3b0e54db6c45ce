//! Nodes replicating through a real redis-server, each on its own connections.
//!
//! Run by `scripts/test.sh`, which starts a throw-away redis-server and sets `BERYL_REDIS_URL`:
//! `cargo test -p beryl-native --features redis-tests --test redis_cluster -- --test-threads=1`.
//! The restart and freeze tests run a redis-server of their own.

#![cfg(feature = "redis-tests")]

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use beryl_native::pubsub::{NodeId, PubSub, Received, RedisConfig, RedisPubSub, Subscription};
use beryl_native::{Config, Meta, Presence, PresenceHandle};
use bytes::Bytes;
use common::{Rng, divergence, intervals_to_converge, random_op};

fn redis_url() -> String {
    std::env::var("BERYL_REDIS_URL").expect(
        "BERYL_REDIS_URL is not set: run scripts/test.sh, which starts a redis-server, \
         or point it at one (redis://127.0.0.1:PORT)",
    )
}

fn config(name: &str) -> Config {
    Config::new(name)
        .broadcast_interval(Duration::from_millis(50))
        .down_period(Duration::from_millis(1_000))
        .permanent_down_period(Duration::from_secs(60))
        .repair_backoff(Duration::from_millis(100))
}

async fn start(url: &str, namespace: &str, name: &str) -> (PresenceHandle, RedisPubSub) {
    let mut redis_config = RedisConfig::new(url, name).namespace(namespace);
    redis_config.reconnect_max = Duration::from_millis(200);
    let redis = RedisPubSub::new(redis_config).expect("a valid Redis URL");
    assert!(
        redis.wait_connected(Duration::from_secs(5)).await,
        "cannot reach Redis at {url}"
    );
    let node = Presence::start(config(name).pubsub(Arc::new(redis.clone())))
        .await
        .expect("start");
    (node, redis)
}

/// A namespace of its own for each test, so runs never see each other's messages.
fn namespace(test: &str) -> String {
    format!("beryl-test:{test}:{}:", std::process::id())
}

async fn converge(nodes: &[&PresenceHandle], seconds: u32) {
    // 50 ms intervals.
    let intervals = intervals_to_converge(nodes, seconds * 20).await;
    assert!(intervals.is_some(), "{}", divergence(nodes));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_on_their_own_connections_converge() {
    let url = redis_url();
    let ns = namespace("converge");
    let (a, _) = start(&url, &ns, "a").await;
    let (b, _) = start(&url, &ns, "b").await;
    let (c, _) = start(&url, &ns, "c").await;
    let nodes = [&a, &b, &c];
    let mut rng = Rng(7);
    for _ in 0..150 {
        random_op(nodes[rng.below(3) as usize], &mut rng).await;
        tokio::time::sleep(Duration::from_millis(rng.below(10))).await;
    }
    converge(&nodes, 10).await;
    assert!(!a.list("room-0").is_empty() || !a.topics().is_empty());

    // A graceful stop is seen at once, a dropped node after the down period.
    b.stop().await.unwrap();
    converge(&[&a, &c], 2).await;
    drop(c);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(
        a.snapshot()
            .topics()
            .iter()
            .flat_map(|topic| a.list(topic))
            .all(|presence| presence.replica() == a.replica()),
        "only a's own presences are left"
    );
    a.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_keep_clusters_apart_and_direct_messages_reach_one_node() {
    let url = redis_url();
    let ns = namespace("pubsub");
    let one = RedisPubSub::new(RedisConfig::new(&url, "one").namespace(&ns)).unwrap();
    let two = RedisPubSub::new(RedisConfig::new(&url, "two").namespace(&ns)).unwrap();
    let stranger =
        RedisPubSub::new(RedisConfig::new(&url, "two").namespace(format!("{ns}other:"))).unwrap();
    for pubsub in [&one, &two, &stranger] {
        assert!(pubsub.wait_connected(Duration::from_secs(5)).await);
    }
    let mut on_one = one.subscribe("t").await.unwrap();
    let mut on_two = two.subscribe("t").await.unwrap();
    let mut on_stranger = stranger.subscribe("t").await.unwrap();

    one.broadcast_from("t", Bytes::from_static(b"all but me"))
        .await
        .unwrap();
    one.send_to(&NodeId::new("two"), "t", Bytes::from_static(b"just two"))
        .await
        .unwrap();
    one.broadcast("t", Bytes::from_static(b"everyone"))
        .await
        .unwrap();

    for expected in ["all but me", "just two", "everyone"] {
        let received = next(&mut on_two).await;
        assert_eq!(received.payload, expected);
        assert_eq!(received.from, NodeId::new("one"));
    }
    assert_eq!(next(&mut on_one).await.payload, "everyone");
    let nothing = tokio::time::timeout(Duration::from_millis(300), on_stranger.recv()).await;
    assert!(nothing.is_err(), "another namespace hears nothing");
}

async fn next(subscription: &mut Subscription) -> Received {
    tokio::time::timeout(Duration::from_secs(5), subscription.recv())
        .await
        .expect("a message in time")
        .expect("an open subscription")
}

/// A redis-server owned by the test, on a free loopback port, that can be killed and started
/// again on the same port, or frozen and thawed.
struct OwnRedis {
    port: u16,
    child: Option<Child>,
    dir: std::path::PathBuf,
}

impl OwnRedis {
    async fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let dir = std::env::temp_dir().join(format!("beryl-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let mut redis = OwnRedis {
            port,
            child: None,
            dir,
        };
        redis.launch().await;
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn launch(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/setup.sh installs it)");
        self.child = Some(child);
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server did not start on port {}", self.port);
    }

    /// Sends `signal` (`STOP` freezes the server with its connections open, `CONT` thaws it).
    async fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("a running redis-server").id();
        let status = tokio::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .await
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} {pid} failed");
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_reconnect_and_converge_after_redis_is_killed_and_restarted() {
    let mut redis = OwnRedis::start().await;
    let url = redis.url();
    let ns = namespace("restart");
    let (a, a_redis) = start(&url, &ns, "a").await;
    let (b, _) = start(&url, &ns, "b").await;
    let (c, _) = start(&url, &ns, "c").await;
    for (node, key) in [(&a, "alice"), (&b, "bob"), (&c, "carol")] {
        node.track("room", key, "p1", Meta::empty()).await.unwrap();
    }
    converge(&[&a, &b, &c], 10).await;
    assert_eq!(a.list("room").len(), 3);

    redis.kill();
    // Local changes and reads keep working while Redis is away.
    let local_ops = async {
        a.track("room", "alice", "p2", Meta::empty()).await.unwrap();
        b.untrack("room", "bob", "p1").await.unwrap();
        c.update(
            "room",
            "carol",
            "p1",
            Meta::from_json(r#"{"away":true}"#).unwrap(),
        )
        .await
        .unwrap();
    };
    tokio::time::timeout(Duration::from_secs(5), local_ops)
        .await
        .expect("local operations do not wait for Redis");
    assert_eq!(a.get_by_key("room", "alice").len(), 2);
    assert!(b.get_by_key("room", "bob").is_empty());
    // Longer than the down period: the nodes mark each other down meanwhile.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(!a_redis.is_connected());
    assert_eq!(
        a.list("room").len(),
        2,
        "only a's own presences while its peers are down"
    );

    redis.launch().await;
    assert!(a_redis.wait_connected(Duration::from_secs(10)).await);
    converge(&[&a, &b, &c], 10).await;
    let pids: Vec<(String, String)> = c
        .list("room")
        .iter()
        .map(|p| (p.key().to_owned(), p.pid().to_owned()))
        .collect();
    assert_eq!(
        pids,
        vec![
            ("alice".to_owned(), "p1".to_owned()),
            ("alice".to_owned(), "p2".to_owned()),
            ("carol".to_owned(), "p1".to_owned()),
        ]
    );
    assert_eq!(c.get_by_key("room", "carol")[0].meta(), r#"{"away":true}"#);
    for node in [&a, &b, &c] {
        node.stop().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_redis_is_noticed_by_ping_and_the_subscription_is_made_again_when_it_thaws() {
    let redis = OwnRedis::start().await;
    let url = redis.url();
    let ns = namespace("frozen");
    let quick = |name: &str| {
        let mut config = RedisConfig::new(&url, name).namespace(&ns);
        config.ping_interval = Duration::from_millis(200);
        config.response_timeout = Duration::from_millis(300);
        config.connect_timeout = Duration::from_millis(300);
        config.reconnect_max = Duration::from_millis(200);
        config
    };
    let one = RedisPubSub::new(quick("one")).unwrap();
    let two = RedisPubSub::new(quick("two")).unwrap();
    for pubsub in [&one, &two] {
        assert!(pubsub.wait_connected(Duration::from_secs(5)).await);
    }
    let mut on_one = one.subscribe("t").await.unwrap();
    two.broadcast_from("t", Bytes::from_static(b"before"))
        .await
        .unwrap();
    assert_eq!(next(&mut on_one).await.payload, "before");

    // Frozen, Redis keeps every TCP connection open and answers nothing: only the PING tells.
    redis.signal("STOP").await;
    let frozen_at = tokio::time::Instant::now();
    while one.is_connected() {
        assert!(
            frozen_at.elapsed() < Duration::from_secs(5),
            "the subscribing connection still looks alive 5 s after Redis froze"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("noticed the frozen server after {:?}", frozen_at.elapsed());

    redis.signal("CONT").await;
    assert!(one.wait_connected(Duration::from_secs(10)).await);
    // The new connection is subscribed again: messages reach the old subscription.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no message after Redis thawed"
        );
        // The publishing connection may still be reconnecting: then this send fails.
        let _ = two.broadcast_from("t", Bytes::from_static(b"after")).await;
        if let Ok(Some(received)) =
            tokio::time::timeout(Duration::from_millis(300), on_one.recv()).await
        {
            assert_eq!(received.payload, "after");
            assert_eq!(received.from, NodeId::new("two"));
            break;
        }
    }
}
