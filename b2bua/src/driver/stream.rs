//! The driver's stream connections (RFC 3261 §18): one tokio task per connection, accepted or
//! opened, reading frames with [`StreamInput`] and writing what the driver queues for it. The
//! tasks only move bytes; every decision (which flow, limits, idle) stays in the endpoint,
//! which they talk to through [`Note`]s. The connection task is generic over the byte stream, so
//! a TLS stream runs in it unchanged.

use super::tls::{reason, HANDSHAKE_TIMEOUT};
use crate::endpoint::Outgoing;
use crate::ops::metrics::Metrics;
use crate::stack::transport::{FlowId, StreamEvent, StreamInput};
use bytes::Bytes;
use rustls::pki_types::ServerName;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// How long opening a connection may take before it counts as failed (RFC 3261 §18.1.1 then
/// falls back to UDP where it may).
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest read from a stream at once.
const READ_CHUNK: usize = 16 * 1024;

/// Messages queued for one connection at most; a peer that reads slower than this loses the
/// connection's later messages to transport errors instead of growing memory.
pub(super) const WRITE_QUEUE: usize = 256;

/// How long one message may take to write; a peer that stops reading loses the connection.
pub(super) const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// What a connection task tells the driver's loop.
#[derive(Debug)]
pub(super) enum Note {
    /// A listener accepted a connection.
    Accepted {
        /// Index of the TCP listener.
        listener: usize,
        /// The connection.
        stream: TcpStream,
        /// The peer's address.
        remote: SocketAddr,
    },
    /// A whole message arrived on a flow.
    Message {
        /// The flow.
        flow: FlowId,
        /// The framed message.
        bytes: Bytes,
    },
    /// A TLS client presented a certificate that verified: its names.
    PeerNames {
        /// The flow.
        flow: FlowId,
        /// The certificate's DNS and IP names.
        names: Vec<String>,
    },
    /// An RFC 5626 keep-alive arrived (and was answered) on a flow.
    KeepAlive {
        /// The flow.
        flow: FlowId,
    },
    /// What a named next hop resolved to.
    Resolved {
        /// The name.
        name: sbc_config::HopName,
        /// The addresses, or why not.
        result: crate::endpoint::Resolution,
    },
    /// The flow is closed; `unsent` are what was queued and never written.
    Closed {
        /// The flow.
        flow: FlowId,
        /// Queued messages that were not written.
        unsent: Vec<Outgoing>,
        /// Why.
        why: String,
    },
}

/// Accepts connections on `listener` forever, handing each to the loop.
pub(super) fn spawn_accept(listener: TcpListener, index: usize, notes: mpsc::Sender<Note>) {
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, remote)) => {
                    // Each write is a whole message: send it now rather than wait for more.
                    let _ = stream.set_nodelay(true);
                    let note = Note::Accepted {
                        listener: index,
                        stream,
                        remote,
                    };
                    if notes.send(note).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!("tcp accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
}

/// Runs an accepted connection or one already open.
pub(super) fn spawn_connection<S>(
    flow: FlowId,
    stream: S,
    queue: mpsc::Receiver<Outgoing>,
    notes: mpsc::Sender<Note>,
    input: StreamInput,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    tokio::spawn(serve(flow, stream, queue, notes, input, None));
}

/// What an accepted TLS connection needs: the listener's acceptor, its address for the
/// metrics, and the metrics.
pub(super) struct TlsServerSide {
    pub(super) acceptor: TlsAcceptor,
    pub(super) listener: String,
    pub(super) metrics: Arc<Metrics>,
}

/// Runs an accepted connection of a TLS listener: the server handshake (within
/// [`HANDSHAKE_TIMEOUT`]), then the connection; a failed handshake closes the flow, counted by
/// reason in `metrics`.
pub(super) fn spawn_tls_accept(
    flow: FlowId,
    stream: TcpStream,
    server: TlsServerSide,
    queue: mpsc::Receiver<Outgoing>,
    notes: mpsc::Sender<Note>,
    input: StreamInput,
) {
    let TlsServerSide {
        acceptor,
        listener,
        metrics,
    } = server;
    tokio::spawn(async move {
        let remote = stream.peer_addr().ok();
        let shake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await;
        match shake.unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into())) {
            Ok(tls) => {
                metrics.tls_connected(&listener);
                let names = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .map(|leaf| super::tls::certificate_names(leaf.as_ref()))
                    .unwrap_or_default();
                if !names.is_empty() && notes.send(Note::PeerNames { flow, names }).await.is_err() {
                    return;
                }
                serve(flow, tls, queue, notes, input, Some(metrics)).await;
            }
            Err(e) => {
                let why = reason(&e);
                metrics.tls_handshake_failed(why);
                tracing::info!(?remote, %listener, reason = why, "tls handshake failed: {e}");
                let why = format!("tls handshake: {why}: {e}");
                let _ = notes
                    .send(Note::Closed {
                        flow,
                        unsent: Vec::new(),
                        why,
                    })
                    .await;
            }
        }
    });
}

/// Opens a TCP connection from `bind` (port chosen by the OS) to `remote`, then, with `tls`, the
/// client handshake verifying the peer under the given name (RFC 5922 §7.2), then runs it; a
/// failure closes the flow with everything queued unsent.
pub(super) fn spawn_connect(
    flow: FlowId,
    bind: IpAddr,
    remote: SocketAddr,
    tls: Option<(TlsConnector, ServerName<'static>, Arc<Metrics>)>,
    mut queue: mpsc::Receiver<Outgoing>,
    notes: mpsc::Sender<Note>,
    input: StreamInput,
) {
    tokio::spawn(async move {
        let why = match connect(bind, remote).await {
            Ok(stream) => match tls {
                None => return serve(flow, stream, queue, notes, input, None).await,
                Some((connector, name, metrics)) => {
                    let shake =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, connector.connect(name, stream))
                            .await;
                    match shake.unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into())) {
                        Ok(s) => {
                            metrics.tls_connected("outbound");
                            return serve(flow, s, queue, notes, input, Some(metrics)).await;
                        }
                        Err(e) => {
                            let why = reason(&e);
                            metrics.tls_handshake_failed(why);
                            tracing::warn!(%remote, reason = why, "tls handshake failed: {e}");
                            format!("tls handshake with {remote}: {why}: {e}")
                        }
                    }
                }
            },
            Err(e) => format!("connect to {remote}: {e}"),
        };
        let unsent = drain(&mut queue);
        let _ = notes.send(Note::Closed { flow, unsent, why }).await;
    });
}

async fn connect(bind: IpAddr, remote: SocketAddr) -> std::io::Result<TcpStream> {
    let sock = if remote.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    sock.bind(SocketAddr::new(bind, 0))?;
    sock.set_nodelay(true)?;
    match tokio::time::timeout(CONNECT_TIMEOUT, sock.connect(remote)).await {
        Ok(r) => r,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "connect timed out",
        )),
    }
}

fn drain(queue: &mut mpsc::Receiver<Outgoing>) -> Vec<Outgoing> {
    queue.close();
    let mut unsent = Vec::new();
    while let Ok(o) = queue.try_recv() {
        unsent.push(o);
    }
    unsent
}

/// Writes all of `bytes` within [`WRITE_TIMEOUT`].
async fn write<W: AsyncWrite + Unpin>(wr: &mut W, bytes: &[u8]) -> std::io::Result<()> {
    match tokio::time::timeout(WRITE_TIMEOUT, wr.write_all(bytes)).await {
        Ok(r) => r,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "write timed out: the peer is not reading",
        )),
    }
}

/// Runs a connection until it ends. With `tls`, a TLS error before the peer sent anything (a
/// TLS 1.3 peer refusing our certificate alerts only after the handshake) counts as a failed
/// handshake.
async fn serve<S>(
    flow: FlowId,
    stream: S,
    mut queue: mpsc::Receiver<Outgoing>,
    notes: mpsc::Sender<Note>,
    mut input: StreamInput,
    tls: Option<Arc<Metrics>>,
) where
    S: AsyncRead + AsyncWrite,
{
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut buf = vec![0u8; READ_CHUNK];
    let mut events = Vec::new();
    let mut unsent = Vec::new();
    // Requests written since the peer last sent anything: if the connection dies before it
    // answers (a TLS 1.3 server refusing our certificate only says so after the handshake), they
    // are reported unsent so their transactions fail now instead of at timer B.
    let mut unanswered: Vec<Outgoing> = Vec::new();
    let mut by_us = false;
    let mut heard = false;
    let why: String = 'conn: loop {
        tokio::select! {
            r = rd.read(&mut buf) => {
                let n = match r {
                    Ok(0) => break 'conn "closed by the peer".into(),
                    Ok(n) => n,
                    Err(e) => {
                        if let Some(m) = tls.as_ref().filter(|_| !heard) {
                            let why = reason(&e);
                            m.tls_handshake_failed(why);
                            tracing::warn!(flow = flow.0, reason = why, "tls peer refused the connection: {e}");
                        }
                        break 'conn e.to_string();
                    }
                };
                heard = true;
                unanswered.clear();
                input.push(buf.get(..n).unwrap_or_default(), &mut events);
                for ev in events.drain(..) {
                    match ev {
                        StreamEvent::Message(bytes) => {
                            if notes.send(Note::Message { flow, bytes }).await.is_err() {
                                return;
                            }
                        }
                        StreamEvent::Ping => {
                            if let Err(e) = write(&mut wr, b"\r\n").await {
                                break 'conn e.to_string();
                            }
                            let _ = notes.send(Note::KeepAlive { flow }).await;
                        }
                        StreamEvent::Close { error, reply } => {
                            if let Some(r) = reply {
                                let _ = write(&mut wr, &r).await;
                            }
                            break 'conn format!("unframeable stream: {error}");
                        }
                    }
                }
            }
            out = queue.recv() => {
                let Some(out) = out else {
                    by_us = true;
                    break 'conn "closed by the SBC".into();
                };
                if let Err(e) = write(&mut wr, &out.bytes).await {
                    unsent.push(out);
                    break 'conn e.to_string();
                }
                if out.tx.is_some() && !out.bytes.starts_with(b"SIP/") && unanswered.len() < 16 {
                    unanswered.push(out);
                }
            }
        }
    };
    let _ = wr.shutdown().await;
    if !by_us {
        unanswered.append(&mut unsent);
        unsent = unanswered;
    }
    unsent.extend(drain(&mut queue));
    let _ = notes.send(Note::Closed { flow, unsent, why }).await;
}
