//! SIP over WebSocket (RFC 7118) on the connections of `ws` and `wss` listeners: the TLS
//! handshake for `wss`, the HTTP upgrade (the `sip` subprotocol and the interface's Origin
//! allow-list; anything else gets a clear HTTP error), then one SIP message per WebSocket
//! message each way. A double-CRLF keep-alive the endpoint sends goes out as a WebSocket ping,
//! and a pong or a CRLF keep-alive from the browser counts as one (RFC 5626 §3.5.1).

use super::stream::{Note, TlsServerSide, WRITE_TIMEOUT};
use super::tls::{reason, HANDSHAKE_TIMEOUT};
use crate::endpoint::Outgoing;
use crate::stack::transport::FlowId;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// The largest SIP message taken over WebSocket (a big INVITE with SDP fits many times).
const MAX_MESSAGE: usize = 64 * 1024;

/// Why an upgrade is refused: the HTTP status and its reason phrase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// The HTTP status code.
    pub(crate) status: u16,
    /// What the client is told (and the metric label).
    pub(crate) reason: &'static str,
}

/// The upgrade rules, sans IO: the client must offer the `sip` subprotocol (RFC 7118 §4.1) and,
/// when the interface names allowed origins, come from one of them (RFC 6455 §10.2).
pub(crate) fn upgrade_verdict(
    protocols: Option<&str>,
    origin: Option<&str>,
    allowed: &[String],
) -> Result<(), Refusal> {
    let sip = protocols.is_some_and(|p| p.split(',').any(|t| t.trim().eq_ignore_ascii_case("sip")));
    if !sip {
        return Err(Refusal {
            status: 400,
            reason: "the sip subprotocol is required",
        });
    }
    if !allowed.is_empty()
        && !origin.is_some_and(|o| allowed.iter().any(|a| a.eq_ignore_ascii_case(o)))
    {
        return Err(Refusal {
            status: 403,
            reason: "origin not allowed",
        });
    }
    Ok(())
}

/// What an accepted WebSocket connection needs.
pub(super) struct WsServerSide {
    /// The TLS side of a `wss` listener.
    pub(super) tls: Option<TlsServerSide>,
    /// The interface's allowed origins (empty: any).
    pub(super) origins: Arc<Vec<String>>,
    /// The metrics, for refused upgrades.
    pub(super) metrics: Arc<crate::ops::metrics::Metrics>,
}

/// Runs an accepted connection of a `ws`/`wss` listener: TLS (for `wss`) and the upgrade within
/// [`HANDSHAKE_TIMEOUT`], then the WebSocket; a failure closes the flow with its reason.
pub(super) fn spawn_ws_accept(
    flow: FlowId,
    stream: TcpStream,
    side: WsServerSide,
    queue: mpsc::Receiver<Outgoing>,
    notes: mpsc::Sender<Note>,
) {
    tokio::spawn(async move {
        let WsServerSide {
            tls,
            origins,
            metrics,
        } = side;
        let why = match tls {
            None => match upgrade(stream, &origins, &metrics).await {
                Ok(ws) => return serve(flow, ws, queue, notes).await,
                Err(why) => why,
            },
            Some(t) => {
                let shake =
                    tokio::time::timeout(HANDSHAKE_TIMEOUT, t.acceptor.accept(stream)).await;
                match shake.unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into())) {
                    Ok(tls) => {
                        t.metrics.tls_connected(&t.listener);
                        match upgrade(tls, &origins, &metrics).await {
                            Ok(ws) => return serve(flow, ws, queue, notes).await,
                            Err(why) => why,
                        }
                    }
                    Err(e) => {
                        let why = reason(&e);
                        t.metrics.tls_handshake_failed(why);
                        format!("tls handshake: {why}: {e}")
                    }
                }
            }
        };
        let _ = notes
            .send(Note::Closed {
                flow,
                unsent: Vec::new(),
                why,
            })
            .await;
    });
}

/// The HTTP upgrade under [`upgrade_verdict`].
async fn upgrade<S>(
    stream: S,
    origins: &[String],
    metrics: &crate::ops::metrics::Metrics,
) -> Result<WebSocketStream<S>, String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut refused: Option<Refusal> = None;
    let check = |req: &Request, mut resp: Response| -> Result<Response, ErrorResponse> {
        let header = |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok());
        match upgrade_verdict(header("sec-websocket-protocol"), header("origin"), origins) {
            Ok(()) => {
                resp.headers_mut()
                    .insert("sec-websocket-protocol", HeaderValue::from_static("sip"));
                Ok(resp)
            }
            Err(r) => {
                refused = Some(r);
                let mut e = ErrorResponse::new(Some(format!("{}\r\n", r.reason)));
                *e.status_mut() = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST);
                Err(e)
            }
        }
    };
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let accept = tokio_tungstenite::accept_hdr_async_with_config(stream, check, Some(config));
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, accept).await {
        Ok(Ok(ws)) => Ok(ws),
        Ok(Err(e)) => {
            let reason = refused.map_or("bad upgrade", |r| r.reason);
            metrics.websocket_refused(reason);
            Err(format!("websocket upgrade: {reason}: {e}"))
        }
        Err(_) => {
            metrics.websocket_refused("timeout");
            Err("websocket upgrade: timed out".into())
        }
    }
}

/// Whether `bytes` is only CRLFs: an RFC 5626 keep-alive rather than a message.
fn is_keepalive(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.iter().all(|&b| b == b'\r' || b == b'\n')
}

/// Runs an upgraded connection until it ends.
async fn serve<S>(
    flow: FlowId,
    ws: WebSocketStream<S>,
    mut queue: mpsc::Receiver<Outgoing>,
    notes: mpsc::Sender<Note>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut tx, mut rx) = ws.split();
    let mut unsent = Vec::new();
    let why: String = 'conn: loop {
        tokio::select! {
            m = rx.next() => {
                let bytes: Bytes = match m {
                    None => break 'conn "closed by the peer".into(),
                    Some(Err(e)) => break 'conn e.to_string(),
                    Some(Ok(Message::Text(t))) => t.into(),
                    Some(Ok(Message::Binary(b))) => b,
                    Some(Ok(Message::Pong(_))) => {
                        let _ = notes.send(Note::KeepAlive { flow }).await;
                        continue;
                    }
                    Some(Ok(Message::Close(_))) => break 'conn "closed by the peer".into(),
                    // Pings are answered by the library on the next write or read.
                    Some(Ok(_)) => continue,
                };
                if is_keepalive(&bytes) {
                    if bytes.len() >= 4 {
                        let pong = tx.send(Message::text("\r\n"));
                        if let Err(e) = timed(pong).await {
                            break 'conn e;
                        }
                    }
                    let _ = notes.send(Note::KeepAlive { flow }).await;
                    continue;
                }
                if notes.send(Note::Message { flow, bytes }).await.is_err() {
                    return;
                }
            }
            out = queue.recv() => {
                let Some(out) = out else {
                    let _ = tx.send(Message::Close(None)).await;
                    break 'conn "closed by the SBC".into();
                };
                let msg = if is_keepalive(&out.bytes) {
                    Message::Ping(Bytes::new())
                } else {
                    match tokio_tungstenite::tungstenite::Utf8Bytes::try_from(out.bytes.clone()) {
                        Ok(text) => Message::Text(text),
                        Err(_) => Message::Binary(out.bytes.clone()),
                    }
                };
                if let Err(e) = timed(tx.send(msg)).await {
                    unsent.push(out);
                    break 'conn e;
                }
            }
        }
    };
    queue.close();
    while let Ok(o) = queue.try_recv() {
        unsent.push(o);
    }
    let _ = notes.send(Note::Closed { flow, unsent, why }).await;
}

/// A send within [`WRITE_TIMEOUT`].
async fn timed<F>(send: F) -> Result<(), String>
where
    F: std::future::Future<Output = Result<(), tokio_tungstenite::tungstenite::Error>>,
{
    match tokio::time::timeout(WRITE_TIMEOUT, send).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err("write timed out: the peer is not reading".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sip_subprotocol_is_required() {
        assert_eq!(upgrade_verdict(Some("sip"), None, &[]), Ok(()));
        assert_eq!(upgrade_verdict(Some("xmpp, SIP"), None, &[]), Ok(()));
        let refusal = upgrade_verdict(None, None, &[]).unwrap_err();
        assert_eq!(
            (refusal.status, refusal.reason),
            (400, "the sip subprotocol is required")
        );
        assert_eq!(
            upgrade_verdict(Some("sips"), None, &[]).unwrap_err().status,
            400
        );
        assert_eq!(
            upgrade_verdict(Some("chat"), None, &[]).unwrap_err().status,
            400
        );
    }

    #[test]
    fn origins_are_checked_only_against_a_configured_list() {
        let allowed = vec!["https://app.example.com".to_owned()];
        assert_eq!(
            upgrade_verdict(Some("sip"), Some("https://evil.example"), &[]),
            Ok(())
        );
        assert_eq!(
            upgrade_verdict(Some("sip"), Some("https://APP.example.com"), &allowed),
            Ok(())
        );
        let r = upgrade_verdict(Some("sip"), Some("https://evil.example"), &allowed).unwrap_err();
        assert_eq!((r.status, r.reason), (403, "origin not allowed"));
        assert_eq!(
            upgrade_verdict(Some("sip"), None, &allowed)
                .unwrap_err()
                .status,
            403
        );
    }

    #[test]
    fn crlf_only_messages_are_keepalives() {
        assert!(is_keepalive(b"\r\n\r\n") && is_keepalive(b"\r\n"));
        assert!(!is_keepalive(b"") && !is_keepalive(b"OPTIONS sip:x SIP/2.0\r\n"));
    }
}
