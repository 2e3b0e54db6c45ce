//! The Redis PubSub: PUBLISH and SUBSCRIBE on a Redis server (or any server speaking its
//! protocol), one publishing and one subscribing connection per node.
//!
//! Channels are `{namespace}{topic}` for broadcasts and `{namespace}{topic}@{node id}` for
//! messages to one node. Both connections reconnect by themselves after a drop, with a
//! growing backoff; the subscribing one subscribes again to every channel. While Redis is
//! unreachable, sends fail at once with [`PubSubError::Disconnected`] and messages are lost:
//! the replication protocol repairs the gap once Redis is back.
//!
//! A subscribing connection only ever reads, so a connection that died without a FIN or RST
//! (a host gone, a NAT entry dropped, a frozen server) would look idle forever. It is
//! checked with a PING every [`RedisConfig::ping_interval`]; a PING or SUBSCRIBE not answered
//! within [`RedisConfig::response_timeout`] drops it, and the node reconnects and subscribes
//! again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::envelope::{self, FrameSender};
use super::{NodeId, PubSub, PubSubError, PubSubFuture, Received, Subscription, check_topic};

/// Settings of a [`RedisPubSub`].
#[derive(Clone, Debug)]
pub struct RedisConfig {
    /// The server, e.g. `redis://127.0.0.1:6379`.
    pub url: String,
    /// This node's id: unique among the nodes sharing the server and namespace.
    pub node_id: NodeId,
    /// Prefix of every channel, so several clusters can share one server. Default empty.
    pub namespace: String,
    /// Longest wait for a connection to open. Default 2 s.
    pub connect_timeout: Duration,
    /// Longest wait for Redis to answer a command (PUBLISH, SUBSCRIBE, PING). Default 2 s.
    pub response_timeout: Duration,
    /// How often the subscribing connection is checked with a PING when it has been quiet.
    /// A dead connection is noticed within this plus `response_timeout`. Default 5 s.
    pub ping_interval: Duration,
    /// First wait before reconnecting; doubled after each failure. Default 100 ms.
    pub reconnect_min: Duration,
    /// Longest wait between reconnection attempts. Default 5 s.
    pub reconnect_max: Duration,
    /// Messages queued per subscription before further ones are dropped. Default 1,024.
    pub subscriber_capacity: usize,
}

impl RedisConfig {
    /// Settings for the node `node_id` on the server at `url`, with the defaults.
    pub fn new(url: impl Into<String>, node_id: impl AsRef<str>) -> Self {
        RedisConfig {
            url: url.into(),
            node_id: NodeId::new(node_id),
            namespace: String::new(),
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(2),
            ping_interval: Duration::from_secs(5),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            subscriber_capacity: 1024,
        }
    }

    /// Sets the channel prefix.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }
}

/// A [`PubSub`] over Redis. Cheap to clone; the background connection task ends when the last
/// clone is dropped.
#[derive(Clone)]
pub struct RedisPubSub {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    config: RedisConfig,
    sender: FrameSender,
    publisher: Mutex<Publisher>,
    /// Local subscribers by channel.
    routes: Arc<Mutex<HashMap<String, Vec<mpsc::Sender<Received>>>>>,
    control: mpsc::UnboundedSender<Control>,
    connected: watch::Receiver<bool>,
}

#[derive(Default)]
struct Publisher {
    connection: Option<MultiplexedConnection>,
    /// No new connection attempt before this instant, after a failure.
    retry_at: Option<Instant>,
    backoff: Duration,
}

/// A request to the subscribing task.
struct Control {
    channels: Vec<String>,
    done: oneshot::Sender<()>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl RedisPubSub {
    /// Starts a node on the server named in `config`. Returns at once: connecting happens in
    /// the background (see [`wait_connected`](Self::wait_connected)). Fails only when the URL
    /// is not a Redis URL. Must be called inside a tokio runtime.
    pub fn new(config: RedisConfig) -> Result<Self, PubSubError> {
        let client = Client::open(config.url.as_str()).map_err(|error| PubSubError::Invalid {
            what: "Redis URL",
            value: config.url.clone(),
            reason: if error.is_io_error() {
                "the server address cannot be used"
            } else {
                "expected redis://host:port"
            },
        })?;
        if config.node_id.as_str().contains('@') || config.node_id.as_str().is_empty() {
            return Err(PubSubError::Invalid {
                what: "node id",
                value: config.node_id.to_string(),
                reason: "a node id must be non-empty and must not contain '@'",
            });
        }
        let Some(sender) = FrameSender::new(&config.node_id) else {
            let id = config.node_id.as_str();
            let mut shown = id.len().min(40);
            while !id.is_char_boundary(shown) {
                shown -= 1;
            }
            return Err(PubSubError::Invalid {
                what: "node id",
                value: format!("{}... ({} bytes)", &id[..shown], id.len()),
                reason: "a node id must be at most 65,535 bytes (its length is framed as 16 bits)",
            });
        };
        if config.ping_interval.is_zero() {
            return Err(PubSubError::Invalid {
                what: "ping interval",
                value: format!("{:?}", config.ping_interval),
                reason: "the subscribing connection's PING interval must be longer than zero",
            });
        }
        let (control, requests) = mpsc::unbounded_channel();
        let (connected_tx, connected) = watch::channel(false);
        let routes = Arc::new(Mutex::new(HashMap::new()));
        let task = SubscriberTask {
            client: client.clone(),
            config: config.clone(),
            routes: routes.clone(),
            requests,
            connected: connected_tx,
        };
        tokio::spawn(task.run());
        Ok(RedisPubSub {
            inner: Arc::new(Inner {
                client,
                sender,
                publisher: Mutex::new(Publisher {
                    backoff: config.reconnect_min,
                    ..Publisher::default()
                }),
                config,
                routes,
                control,
                connected,
            }),
        })
    }

    /// Whether the subscribing connection is up right now.
    pub fn is_connected(&self) -> bool {
        *self.inner.connected.borrow()
    }

    /// Waits until the subscribing connection is up, at most `timeout`. Returns whether it is.
    pub async fn wait_connected(&self, timeout: Duration) -> bool {
        let mut connected = self.inner.connected.clone();
        tokio::time::timeout(timeout, connected.wait_for(|up| *up))
            .await
            .is_ok_and(|result| result.is_ok())
    }

    fn broadcast_channel(&self, topic: &str) -> String {
        format!("{}{topic}", self.inner.config.namespace)
    }

    fn direct_channel(&self, topic: &str, node: &NodeId) -> String {
        format!("{}{topic}@{node}", self.inner.config.namespace)
    }

    async fn publisher(&self) -> Result<MultiplexedConnection, PubSubError> {
        {
            let publisher = lock(&self.inner.publisher);
            if let Some(connection) = &publisher.connection {
                return Ok(connection.clone());
            }
            if publisher.retry_at.is_some_and(|at| Instant::now() < at) {
                return Err(PubSubError::Disconnected {
                    reason: "waiting before the next reconnection attempt".into(),
                });
            }
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.inner.config.connect_timeout))
            .set_response_timeout(Some(self.inner.config.response_timeout));
        let result = self
            .inner
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await;
        let mut publisher = lock(&self.inner.publisher);
        match result {
            Ok(connection) => {
                publisher.connection = Some(connection.clone());
                publisher.retry_at = None;
                publisher.backoff = self.inner.config.reconnect_min;
                tracing::info!(node = %self.inner.config.node_id, "redis: publishing connection up");
                Ok(connection)
            }
            Err(error) => {
                publisher.retry_at = Some(Instant::now() + publisher.backoff);
                publisher.backoff = (publisher.backoff * 2).min(self.inner.config.reconnect_max);
                tracing::debug!(%error, "redis: cannot open the publishing connection");
                Err(PubSubError::Disconnected {
                    reason: error.to_string(),
                })
            }
        }
    }

    async fn publish(&self, channel: String, frame: Bytes) -> Result<(), PubSubError> {
        let mut connection = self.publisher().await?;
        let result: redis::RedisResult<i64> = redis::cmd("PUBLISH")
            .arg(&channel)
            .arg(frame.as_ref())
            .query_async(&mut connection)
            .await;
        match result {
            Ok(_receivers) => Ok(()),
            Err(error) => {
                let mut publisher = lock(&self.inner.publisher);
                if publisher.connection.take().is_some() {
                    tracing::warn!(%error, "redis: publishing connection lost; reconnecting");
                }
                Err(PubSubError::Disconnected {
                    reason: error.to_string(),
                })
            }
        }
    }
}

impl PubSub for RedisPubSub {
    fn node_id(&self) -> &NodeId {
        &self.inner.config.node_id
    }

    fn subscribe(&self, topic: &str) -> PubSubFuture<'_, Subscription> {
        let topic = topic.to_owned();
        Box::pin(async move {
            check_topic(&topic)?;
            let (sender, receiver) = mpsc::channel(self.inner.config.subscriber_capacity.max(1));
            let channels = vec![
                self.broadcast_channel(&topic),
                self.direct_channel(&topic, &self.inner.config.node_id),
            ];
            {
                let mut routes = lock(&self.inner.routes);
                for channel in &channels {
                    routes
                        .entry(channel.clone())
                        .or_default()
                        .push(sender.clone());
                }
            }
            let (done, confirmed) = oneshot::channel();
            self.inner
                .control
                .send(Control { channels, done })
                .map_err(|_| PubSubError::Closed)?;
            // While disconnected, the subscription is made on reconnection: do not wait for it.
            if self.is_connected() {
                let _ = tokio::time::timeout(self.inner.config.response_timeout, confirmed).await;
            }
            Ok(Subscription::new(receiver))
        })
    }

    fn broadcast(&self, topic: &str, payload: Bytes) -> PubSubFuture<'_, ()> {
        let checked = check_topic(topic);
        let channel = self.broadcast_channel(topic);
        let frame = self.inner.sender.encode(false, &payload);
        Box::pin(async move {
            checked?;
            self.publish(channel, frame).await
        })
    }

    fn broadcast_from(&self, topic: &str, payload: Bytes) -> PubSubFuture<'_, ()> {
        let checked = check_topic(topic);
        let channel = self.broadcast_channel(topic);
        let frame = self.inner.sender.encode(true, &payload);
        Box::pin(async move {
            checked?;
            self.publish(channel, frame).await
        })
    }

    fn send_to(&self, to: &NodeId, topic: &str, payload: Bytes) -> PubSubFuture<'_, ()> {
        let checked = check_topic(topic);
        let channel = self.direct_channel(topic, to);
        let frame = self.inner.sender.encode(false, &payload);
        Box::pin(async move {
            checked?;
            self.publish(channel, frame).await
        })
    }
}

/// Owns the subscribing connection: connects, subscribes to every channel asked for, routes
/// messages to local subscribers, and starts over after a drop.
struct SubscriberTask {
    client: Client,
    config: RedisConfig,
    routes: Arc<Mutex<HashMap<String, Vec<mpsc::Sender<Received>>>>>,
    requests: mpsc::UnboundedReceiver<Control>,
    connected: watch::Sender<bool>,
}

enum Ended {
    /// The connection dropped: reconnect.
    Dropped(String),
    /// Every handle is gone: stop.
    Closed,
}

impl SubscriberTask {
    async fn run(mut self) {
        let mut backoff = self.config.reconnect_min;
        let mut failures = 0u64;
        loop {
            let attempt =
                tokio::time::timeout(self.config.connect_timeout, self.client.get_async_pubsub())
                    .await;
            let reason = match attempt {
                Ok(Ok(pubsub)) => {
                    match self.serve(pubsub).await {
                        Ended::Closed => return,
                        Ended::Dropped(reason) => {
                            self.connected.send_replace(false);
                            tracing::warn!(
                                node = %self.config.node_id,
                                %reason,
                                "redis: subscribing connection lost; reconnecting"
                            );
                            backoff = self.config.reconnect_min;
                            failures = 0;
                        }
                    }
                    continue;
                }
                Ok(Err(error)) => error.to_string(),
                Err(_) => "connection timed out".to_owned(),
            };
            failures += 1;
            // One warning when the outage starts, then quieter.
            if failures == 1 {
                tracing::warn!(node = %self.config.node_id, %reason, "redis: cannot connect; retrying");
            } else {
                tracing::debug!(node = %self.config.node_id, %reason, failures, "redis: still cannot connect");
            }
            if self.wait_or_close(backoff).await {
                return;
            }
            backoff = (backoff * 2).min(self.config.reconnect_max);
        }
    }

    /// Sleeps for `delay` while still accepting subscriptions (they are made on reconnection).
    /// Returns true when every handle is gone.
    async fn wait_or_close(&mut self, delay: Duration) -> bool {
        let deadline = tokio::time::sleep(delay);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                () = &mut deadline => return false,
                request = self.requests.recv() => match request {
                    // The channels are in the routes already; confirm so the caller goes on.
                    Some(request) => { let _ = request.done.send(()); }
                    None => return true,
                },
            }
        }
    }

    /// Runs one command on the subscribing connection, bounded by the response timeout.
    async fn command<T>(
        &self,
        what: &str,
        command: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, String> {
        match tokio::time::timeout(self.config.response_timeout, command).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(format!("{what} failed: {error}")),
            Err(_) => Err(format!(
                "no answer to {what} within {:?}",
                self.config.response_timeout
            )),
        }
    }

    async fn serve(&mut self, pubsub: redis::aio::PubSub) -> Ended {
        let (mut sink, mut stream) = pubsub.split();
        let channels: Vec<String> = lock(&self.routes).keys().cloned().collect();
        if !channels.is_empty() {
            if let Err(reason) = self.command("SUBSCRIBE", sink.subscribe(&channels)).await {
                return Ended::Dropped(reason);
            }
        }
        self.connected.send_replace(true);
        tracing::info!(node = %self.config.node_id, channels = channels.len(), "redis: subscribed");
        let mut liveness = tokio::time::interval(self.config.ping_interval);
        liveness.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick completes at once; the connection was just proven alive.
        liveness.tick().await;
        loop {
            tokio::select! {
                message = stream.next() => match message {
                    Some(message) => {
                        self.route(&message);
                        // Traffic proves the connection alive: no PING needed yet.
                        liveness.reset();
                    }
                    None => return Ended::Dropped("the server closed the connection".into()),
                },
                request = self.requests.recv() => match request {
                    Some(request) => {
                        let result = self
                            .command("SUBSCRIBE", sink.subscribe(&request.channels))
                            .await;
                        let _ = request.done.send(());
                        if let Err(reason) = result {
                            return Ended::Dropped(reason);
                        }
                    }
                    None => return Ended::Closed,
                },
                _ = liveness.tick() => {
                    if let Err(reason) = self.command("PING", sink.ping::<redis::Value>()).await {
                        return Ended::Dropped(reason);
                    }
                }
            }
        }
    }

    fn route(&self, message: &redis::Msg) {
        let Some(frame) = envelope::decode(message.get_payload_bytes()) else {
            tracing::debug!(
                channel = message.get_channel_name(),
                "redis: ignoring a foreign message"
            );
            return;
        };
        if frame.skip_sender && frame.from == self.config.node_id {
            return;
        }
        let mut routes = lock(&self.routes);
        let Some(subscribers) = routes.get_mut(message.get_channel_name()) else {
            return;
        };
        subscribers.retain(|sender| !sender.is_closed());
        for sender in subscribers.iter() {
            let received = Received {
                from: frame.from.clone(),
                payload: frame.payload.clone(),
            };
            if sender.try_send(received).is_err() {
                tracing::debug!(
                    channel = message.get_channel_name(),
                    "redis: subscriber queue full, message dropped"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(config: RedisConfig) -> PubSubError {
        match RedisPubSub::new(config) {
            Ok(_) => panic!("the configuration was accepted"),
            Err(error) => error,
        }
    }

    #[test]
    fn node_ids_too_long_to_frame_are_refused_at_configuration() {
        let error = refusal(RedisConfig::new(
            "redis://127.0.0.1:1",
            "n".repeat(usize::from(u16::MAX) + 1),
        ));
        assert!(
            matches!(
                error,
                PubSubError::Invalid {
                    what: "node id",
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(error.to_string().contains("65,535 bytes"), "{error}");
        assert!(error.to_string().len() < 300, "the id is not printed whole");
    }

    #[tokio::test]
    async fn the_longest_framable_node_id_is_accepted() {
        let config = RedisConfig::new("redis://127.0.0.1:1", "n".repeat(usize::from(u16::MAX)));
        assert!(RedisPubSub::new(config).is_ok());
    }

    #[test]
    fn a_zero_ping_interval_is_refused() {
        let mut config = RedisConfig::new("redis://127.0.0.1:1", "node");
        config.ping_interval = Duration::ZERO;
        assert!(matches!(
            refusal(config),
            PubSubError::Invalid {
                what: "ping interval",
                ..
            }
        ));
    }
}
