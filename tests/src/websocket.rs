//! A SIP peer on a WebSocket connection (RFC 7118) for the end-to-end tests, as a browser's
//! SIP stack is: one SIP message per WebSocket message, the `sip` subprotocol, an Origin.

use crate::tcp::message_until;
use sbc_common::sip::{Limits, Message};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use tungstenite::client::IntoClientRequest;
use tungstenite::http::HeaderValue;
use tungstenite::protocol::WebSocket;
use tungstenite::Message as Ws;

/// A byte stream a WebSocket runs on whose reads can time out: TCP, or TLS over TCP.
pub trait Conn: std::io::Read + std::io::Write {
    /// Sets the read timeout of the underlying TCP connection.
    fn set_timeout(&self, d: Duration) -> std::io::Result<()>;
}

impl Conn for TcpStream {
    fn set_timeout(&self, d: Duration) -> std::io::Result<()> {
        self.set_read_timeout(Some(d))
    }
}

impl Conn for rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    fn set_timeout(&self, d: Duration) -> std::io::Result<()> {
        self.sock.set_read_timeout(Some(d))
    }
}

/// One SIP peer on a WebSocket connection.
pub struct WsPeer {
    ws: WebSocket<Box<dyn Conn>>,
    local: SocketAddr,
}

/// An upgrade the SBC refused: its HTTP status and body.
#[derive(Debug)]
pub struct Refused {
    /// The HTTP status.
    pub status: u16,
    /// The body (the reason).
    pub body: String,
}

impl WsPeer {
    /// Opens `ws://to/` offering `protocol` (None: no subprotocol header) from `origin`.
    pub fn connect(
        to: SocketAddr,
        protocol: Option<&str>,
        origin: Option<&str>,
    ) -> Result<Self, Refused> {
        let stream =
            TcpStream::connect_timeout(&to, Duration::from_secs(5)).expect("connect to the sbc");
        let local = stream.local_addr().expect("local addr");
        Self::over(
            Box::new(stream),
            local,
            &format!("ws://{to}/"),
            protocol,
            origin,
        )
    }

    /// Opens `wss://name/` at `to`, verifying the SBC's certificate as `name` with `tls`.
    pub fn connect_tls(
        to: SocketAddr,
        name: &str,
        tls: std::sync::Arc<rustls::ClientConfig>,
        origin: Option<&str>,
    ) -> Result<Self, Refused> {
        let tcp =
            TcpStream::connect_timeout(&to, Duration::from_secs(5)).expect("connect to the sbc");
        let local = tcp.local_addr().expect("local addr");
        let server = rustls::pki_types::ServerName::try_from(name.to_owned()).expect("name");
        let conn = rustls::ClientConnection::new(tls, server).expect("tls client");
        let stream = rustls::StreamOwned::new(conn, tcp);
        Self::over(
            Box::new(stream),
            local,
            &format!("wss://{name}/"),
            Some("sip"),
            origin,
        )
    }

    fn over(
        stream: Box<dyn Conn>,
        local: SocketAddr,
        url: &str,
        protocol: Option<&str>,
        origin: Option<&str>,
    ) -> Result<Self, Refused> {
        stream.set_timeout(Duration::from_secs(5)).expect("timeout");
        let mut req = url.into_client_request().expect("request");
        if let Some(p) = protocol {
            req.headers_mut().insert(
                "sec-websocket-protocol",
                HeaderValue::from_str(p).expect("header"),
            );
        }
        if let Some(o) = origin {
            req.headers_mut()
                .insert("origin", HeaderValue::from_str(o).expect("header"));
        }
        match tungstenite::client(req, stream) {
            Ok((ws, resp)) => {
                let agreed = resp
                    .headers()
                    .get("sec-websocket-protocol")
                    .and_then(|v| v.to_str().ok());
                assert_eq!(agreed, Some("sip"), "the upgrade names the sip subprotocol");
                Ok(Self { ws, local })
            }
            Err(tungstenite::handshake::HandshakeError::Failure(tungstenite::Error::Http(r))) => {
                Err(Refused {
                    status: r.status().as_u16(),
                    body: r
                        .body()
                        .as_ref()
                        .map(|b| String::from_utf8_lossy(b).into_owned())
                        .unwrap_or_default(),
                })
            }
            Err(e) => panic!("websocket handshake: {e}"),
        }
    }

    /// The local address of the connection.
    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// Sends one SIP message as one text message.
    pub fn send(&mut self, m: &Message) {
        let text = String::from_utf8(m.to_bytes().to_vec()).expect("SIP is text");
        self.ws.send(Ws::text(text)).expect("send");
    }

    /// Sends raw text (a CRLF keep-alive).
    pub fn send_text(&mut self, text: &str) {
        self.ws.send(Ws::text(text)).expect("send");
    }

    /// The next WebSocket message within `timeout` (pings are answered by the library).
    pub fn recv_raw(&mut self, timeout: Duration) -> Option<Ws> {
        let end = Instant::now() + timeout;
        loop {
            let left = end.checked_duration_since(Instant::now())?;
            if left.is_zero() {
                return None;
            }
            self.ws.get_mut().set_timeout(left).ok()?;
            match self.ws.read() {
                Ok(Ws::Ping(_)) | Ok(Ws::Pong(_)) => continue,
                Ok(m) => return Some(m),
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    continue
                }
                Err(_) => return None,
            }
        }
    }

    /// The next SIP message within `timeout` (keep-alives skipped).
    pub fn recv(&mut self, timeout: Duration) -> Option<Message> {
        let end = Instant::now() + timeout;
        loop {
            let left = end.checked_duration_since(Instant::now())?;
            let bytes = match self.recv_raw(left)? {
                Ws::Text(t) => bytes::Bytes::from(t),
                Ws::Binary(b) => b,
                _ => return None,
            };
            if bytes.iter().all(|&b| b == b'\r' || b == b'\n') {
                continue;
            }
            return Some(Message::parse(bytes, &Limits::default()).expect("parse"));
        }
    }

    /// The next SIP message for which `want` holds, within `timeout`.
    pub fn recv_until(
        &mut self,
        timeout: Duration,
        want: impl FnMut(&Message) -> bool,
    ) -> Option<Message> {
        message_until(timeout, |left| self.recv(left), want)
    }

    /// Closes the connection (a browser tab going away).
    pub fn close(mut self) {
        let _ = self.ws.close(None);
        let _ = self.ws.flush();
    }
}
