//! `beryl serve`: a presence server that Phoenix JS clients and browsers connect to.
//!
//! ```text
//! beryl serve                                   # one node, http://127.0.0.1:4000/
//! beryl serve --node a --redis redis://127.0.0.1:6379 --listen 127.0.0.1:4001
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use beryl_native::pubsub::{LocalBus, PubSub, RedisConfig, RedisPubSub};
use beryl_native::server::{Server, ServerConfig};
use beryl_native::{Config, Presence};
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "beryl",
    version,
    about = "Presence over Phoenix channels, replicated without coordination"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serves Phoenix channels at /socket/websocket and the live demo page at /.
    Serve(ServeArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// The address to listen on (port 0 picks a free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:4000")]
    listen: SocketAddr,
    /// This node's name, unique in the cluster (default: node-<process id>).
    #[arg(long)]
    node: Option<String>,
    /// Join a cluster over Redis at this URL instead of running alone on the embedded
    /// in-process PubSub.
    #[arg(long, value_name = "URL")]
    redis: Option<String>,
    /// A prefix for the Redis channel names, to run several clusters on one Redis.
    #[arg(long, default_value = "beryl:")]
    redis_namespace: String,
    /// The directory of the built beryl-presence package, served at /pkg/ for the demo page.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_PACKAGE_DIR)]
    package_dir: PathBuf,
    /// How often local changes are broadcast to the other nodes.
    #[arg(long, default_value_t = 1_500)]
    broadcast_interval_ms: u64,
    /// A node silent this long is considered down: its users leave everyone's view.
    #[arg(long, default_value_t = 30_000)]
    down_after_ms: u64,
    /// A node silent this long is forgotten for good.
    #[arg(long, default_value_t = 20 * 60 * 1_000)]
    permanent_down_after_ms: u64,
    /// Close sockets that send nothing (not even a heartbeat) for this long.
    #[arg(long, default_value_t = 60_000)]
    heartbeat_timeout_ms: u64,
    /// Close connections that have not sent a whole request head within this long.
    #[arg(long, default_value_t = 10_000)]
    header_read_timeout_ms: u64,
    /// The most connections open at once (WebSockets included); more get a 503. Keep it below
    /// the file descriptor limit (ulimit -n).
    #[arg(long, default_value_t = 10_000)]
    max_connections: usize,
    /// The most connections open at once from one peer address; more get a 503. Raise it
    /// behind a reverse proxy, where every client has the proxy's address.
    #[arg(long, default_value_t = 1_000)]
    max_connections_per_peer: usize,
    /// The most bytes that may wait to be sent to one socket before it is closed as not
    /// reading; also the largest frame sent (a big topic's presence_state).
    #[arg(long, default_value_t = 16 * 1024 * 1024)]
    max_outbound_bytes: usize,
}

/// The package built by scripts/build-wasm.sh in this checkout.
const DEFAULT_PACKAGE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../pkg");

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Command::Serve(args) = cli.command;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("beryl: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("beryl: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();

    let node = args
        .node
        .clone()
        .unwrap_or_else(|| format!("node-{}", std::process::id()));
    let pubsub: Arc<dyn PubSub> = match &args.redis {
        Some(url) => Arc::new(
            RedisPubSub::new(RedisConfig::new(url, &node).namespace(&args.redis_namespace))
                .map_err(|error| format!("cannot use Redis at {url}: {error}"))?,
        ),
        None => Arc::new(LocalBus::new().node(&node)),
    };
    let config = Config::new(&node)
        .pubsub(pubsub)
        .broadcast_interval(Duration::from_millis(args.broadcast_interval_ms))
        .down_period(Duration::from_millis(args.down_after_ms))
        .permanent_down_period(Duration::from_millis(args.permanent_down_after_ms))
        // The endpoint fans every diff out to its sockets; a deep queue rides out join storms.
        .subscriber_capacity(1 << 16)
        .replication_feed(true);
    let presence = Presence::start(config)
        .await
        .map_err(|error| error.to_string())?;

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|error| {
            format!(
                "cannot listen on {}: {error}; pick another --listen",
                args.listen
            )
        })?;
    let address = listener
        .local_addr()
        .map_err(|error| format!("cannot read the bound address: {error}"))?;
    let server = Server::new(presence.clone())
        .config(ServerConfig {
            heartbeat_timeout: Duration::from_millis(args.heartbeat_timeout_ms),
            header_read_timeout: Duration::from_millis(args.header_read_timeout_ms),
            max_connections: args.max_connections,
            max_connections_per_peer: args.max_connections_per_peer,
            max_outbound_bytes: args.max_outbound_bytes,
            crdt_context_interval: Duration::from_millis(args.broadcast_interval_ms),
            ..ServerConfig::default()
        })
        .package_dir(&args.package_dir);
    if !args.package_dir.join("package.json").exists() {
        eprintln!(
            "beryl: no beryl-presence package in {} (the demo page needs it): run \
             scripts/build-wasm.sh or pass --package-dir",
            args.package_dir.display()
        );
    }
    let cluster = match &args.redis {
        Some(url) => format!("cluster over {url}"),
        None => "single node, in-process PubSub".to_owned(),
    };
    // Tests and scripts read this line to learn the address: keep its shape.
    println!("beryl: node {node} listening on http://{address}/ ({cluster})");
    println!(
        "beryl: open http://{address}/ in a browser; Phoenix clients connect to ws://{address}/socket/websocket"
    );

    let serving = server.serve(listener, std::future::pending());
    tokio::select! {
        result = serving => result.map_err(|error| error.to_string())?,
        () = shutdown_signal() => {
            eprintln!("beryl: stopping: telling the other nodes");
            let _ = presence.stop().await;
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
