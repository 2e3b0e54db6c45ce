//! Accepting connections: a deadline for each request head, and caps on the connections open at
//! once, in total and per peer address.
//!
//! A connection that sends a partial request (or nothing) is closed once
//! [`ServerConfig::header_read_timeout`] passes, so idle or trickling connections cannot pile
//! up until the process runs out of file descriptors. Past a cap, a new connection gets a short
//! `503` and is closed at once; the connections already open are not affected. A connection
//! upgraded to a WebSocket keeps its place until the socket closes.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::config::ServerConfig;

/// The caps on open connections.
#[derive(Debug)]
struct Slots {
    max_total: usize,
    max_per_peer: usize,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    per_peer: HashMap<IpAddr, usize>,
}

/// Why a connection was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Full {
    Total,
    Peer,
}

impl Slots {
    fn new(max_total: usize, max_per_peer: usize) -> Arc<Self> {
        Arc::new(Slots {
            max_total,
            max_per_peer,
            open: Mutex::new(Open::default()),
        })
    }

    fn open(&self) -> std::sync::MutexGuard<'_, Open> {
        // Plain counters that every operation leaves consistent.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A place for a connection from `peer`, held until the returned slot is dropped.
    fn take(self: &Arc<Self>, peer: IpAddr) -> Result<Slot, Full> {
        let mut open = self.open();
        if open.total >= self.max_total {
            return Err(Full::Total);
        }
        let of_peer = open.per_peer.entry(peer).or_insert(0);
        if *of_peer >= self.max_per_peer {
            return Err(Full::Peer);
        }
        *of_peer += 1;
        open.total += 1;
        Ok(Slot {
            slots: self.clone(),
            peer,
        })
    }
}

/// One open connection's place under the caps; dropping it frees the place.
#[derive(Debug)]
struct Slot {
    slots: Arc<Slots>,
    peer: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.slots.open();
        open.total -= 1;
        if let Some(count) = open.per_peer.get_mut(&self.peer) {
            *count -= 1;
            if *count == 0 {
                open.per_peer.remove(&self.peer);
            }
        }
    }
}

/// The place of the connection a request came on, in the request's extensions: the WebSocket
/// handler keeps it for as long as the upgraded socket lives.
#[derive(Clone, Debug)]
pub struct ConnectionSlot(#[allow(dead_code)] Arc<Slot>);

/// Accept errors that concern one connection only; others (out of file descriptors) make the
/// loop pause before accepting again.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Tells a client over a cap why it is refused, without waiting for it, and closes.
fn refuse(stream: TcpStream, full: Full) {
    let reason = match full {
        Full::Total => "the server has as many connections as it accepts; retry later\n",
        Full::Peer => "too many connections from your address; close some first\n",
    };
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n\
         content-length: {}\r\nconnection: close\r\nretry-after: 5\r\n\r\n{reason}",
        reason.len()
    );
    // A fresh connection's send buffer takes this at once; if not, the client gets the close.
    let _ = stream.try_write(response.as_bytes());
}

/// Serves `router` on `listener` until `shutdown` completes: then no connection is accepted any
/// more, open HTTP connections finish their request, and this returns once they have closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    config: &ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let slots = Slots::new(config.max_connections, config.max_connections_per_peer);
    let header_read_timeout = config.header_read_timeout;
    let (signal_tx, signal_rx) = watch::channel(());
    tokio::spawn(async move {
        shutdown.await;
        drop(signal_rx);
    });
    let (close_tx, close_rx) = watch::channel(());
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) if is_connection_error(&error) => continue,
                Err(error) => {
                    tracing::warn!(%error, "cannot accept a connection; retrying shortly");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = signal_tx.closed() => break,
        };
        // Frames are small and written as they come: do not hold them back for coalescing.
        let _ = stream.set_nodelay(true);
        let slot = match slots.take(peer.ip()) {
            Ok(slot) => slot,
            Err(full) => {
                tracing::debug!(%peer, ?full, "refusing a connection over the cap");
                refuse(stream, full);
                continue;
            }
        };
        tokio::spawn(connection(
            stream,
            peer,
            ConnectionSlot(Arc::new(slot)),
            router.clone(),
            header_read_timeout,
            signal_tx.clone(),
            close_rx.clone(),
        ));
    }
    drop(close_rx);
    drop(listener);
    close_tx.closed().await;
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    slot: ConnectionSlot,
    router: Router,
    header_read_timeout: Duration,
    signal: watch::Sender<()>,
    _close: watch::Receiver<()>,
) {
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(slot.clone());
        let mut router = router.clone();
        tower_service::Service::call(&mut router, request)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let connection = builder
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(connection);
    let mut shutting_down = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%peer, %error, "connection ended");
                }
                break;
            }
            () = signal.closed(), if !shutting_down => {
                shutting_down = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_cap_the_total_and_each_peer_and_free_on_drop() {
        let slots = Slots::new(3, 2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let first = slots.take(a).unwrap();
        let second = slots.take(a).unwrap();
        assert_eq!(slots.take(a).unwrap_err(), Full::Peer);
        let third = slots.take(b).unwrap();
        assert_eq!(slots.take(b).unwrap_err(), Full::Total);
        drop(first);
        let again = slots.take(a).unwrap();
        assert_eq!(slots.take(b).unwrap_err(), Full::Total);
        drop((second, third, again));
        assert_eq!(slots.open().total, 0);
        assert!(slots.open().per_peer.is_empty());
    }
}
