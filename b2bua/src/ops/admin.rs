//! The admin HTTP endpoint on `[admin] listen`: Prometheus metrics, liveness and readiness
//! probes, and the management API under `/api/v1/` (described in `docs/admin-api.yaml`).
//!
//! A deliberately small HTTP/1.1 server (RFC 9112) rather than a framework: one request per
//! connection (`Connection: close`), a request head of at most [`MAX_HEAD`] bytes, a
//! `Content-Length` body of at most [`MAX_BODY`] bytes (no chunked bodies: 501), the whole
//! exchange bounded by [`EXCHANGE_TIMEOUT`], at most [`MAX_CONNECTIONS`] at once. It runs as
//! tokio tasks beside the SIP driver; metrics, probes and status read only shared atomics
//! ([`Metrics`]), so a scrape never waits for the SIP task nor makes it wait.
//!
//! | Route | Auth | Answer |
//! |---|---|---|
//! | `GET /metrics` | open | text exposition format |
//! | `GET /health` | open | 200 while the process serves (liveness) |
//! | `GET /ready` | open | 200 once SIP sockets are bound, the relay runs and the driver loop turns, else 503 |
//! | `GET /api/v1/status` | bearer token | JSON summary |
//! | `GET /api/v1/calls` | bearer token | the live calls with per-stream media statistics |
//! | `POST /api/v1/calls` | bearer token | click-to-dial: 201 with the new call's id |
//! | `GET /api/v1/calls/{id}` | bearer token | one call |
//! | `DELETE /api/v1/calls/{id}` | bearer token | terminate: BYE on both legs (202) |
//! | `/api/v1/registrations` | bearer token | GET: customer bindings (AOR, contact, flow, expires) |
//! | `/api/v1/registrations/{aor}` | bearer token | DELETE: remove every binding of the AOR |
//!
//! "Open" routes need no credentials (Prometheus and orchestrator probes usually send none; the
//! listener is loopback or a management network, which the config check enforces by requiring a
//! token off loopback), but a request that does carry `Authorization` must carry the right token
//! when one is configured, so a wrong token never looks accepted. `/api/v1/` needs
//! `Authorization: Bearer <[admin] token>` (RFC 6750 §2.1), compared in constant time: missing or
//! wrong is 401 with `WWW-Authenticate: Bearer` (RFC 6750 §3); with no token configured the API
//! is off and answers 403.
//!
//! The call endpoints send a [`Command`] to the driver task over a channel and await its reply
//! (at most [`COMMAND_TIMEOUT`]), as only the driver's endpoint owns the call core
//! ([`crate::ops::management`]); without a driver attached they answer 503. The registration
//! endpoints work the same way (the endpoint owns the registrations).

use crate::ops::management::{Command, CommandError, CommandSender, Target};
use crate::ops::metrics::{Metrics, TEXT_CONTENT_TYPE};
use sbc_config::{Config, Secret};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Semaphore};

/// The largest request head (request line and headers) read, in bytes.
pub const MAX_HEAD: usize = 8 * 1024;

/// The largest request body read, in bytes.
pub const MAX_BODY: usize = 64 * 1024;

/// The longest one connection may take to send its request and receive the answer.
pub const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections served at once; more wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 64;

/// The longest a call command waits for the driver's answer.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the admin endpoint could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// `[admin] listen` could not be bound.
    #[error("bind admin {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// One parsed HTTP request (RFC 9112 §3, §6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The method token, as sent.
    pub method: String,
    /// The path of the request target, without the query.
    pub path: String,
    /// The headers, names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// The body (`Content-Length` bytes).
    pub body: Vec<u8>,
}

impl Request {
    /// The first value of header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP response, always sent with `Content-Length` and `Connection: close` (RFC 9110 §15).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The `Content-Type`.
    pub content_type: &'static str,
    /// Further headers.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Vec<u8>,
}

const JSON: &str = "application/json";

impl Response {
    fn json(status: u16, value: &serde_json::Value) -> Self {
        let mut body = value.to_string().into_bytes();
        body.push(b'\n');
        Self {
            status,
            content_type: JSON,
            headers: vec![("Cache-Control", "no-store".to_owned())],
            body,
        }
    }

    fn error(status: u16, message: &str) -> Self {
        Self::json(status, &serde_json::json!({ "error": message }))
    }

    fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The response on the wire; `head_only` leaves the body out (a HEAD request, RFC 9110
    /// §9.3.2).
    pub fn to_bytes(&self, head_only: bool) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        );
        for (name, value) in &self.headers {
            out.push_str(name);
            out.push_str(": ");
            out.push_str(value);
            out.push_str("\r\n");
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        if !head_only {
            bytes.extend_from_slice(&self.body);
        }
        bytes
    }
}

/// The reason phrase of the statuses this server sends (RFC 9110 §15).
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// What the admin endpoint serves from: the shared metrics (with readiness), the token and the
/// node's identity.
#[derive(Debug)]
pub struct AdminState {
    metrics: Arc<Metrics>,
    token: Option<Secret>,
    node: String,
    started: Instant,
    /// The driver's command channel, for the call endpoints.
    commands: Option<CommandSender>,
}

impl AdminState {
    /// State for `cfg`'s `[admin]` token and node name over `metrics`.
    pub fn new(cfg: &Config, metrics: Arc<Metrics>) -> Self {
        Self {
            metrics,
            token: cfg.admin.token.clone(),
            node: cfg.general.node_name.clone(),
            started: Instant::now(),
            commands: None,
        }
    }

    /// Attaches the driver's command channel, which the call endpoints need.
    pub fn with_commands(mut self, commands: CommandSender) -> Self {
        self.commands = Some(commands);
        self
    }

    /// Sends a command built around a reply channel to the driver and awaits the answer;
    /// `None` when no driver is attached or it did not answer within [`COMMAND_TIMEOUT`].
    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Option<T> {
        let commands = self.commands.as_ref()?;
        let (tx, rx) = oneshot::channel();
        let exchange = async {
            commands.send(make(tx)).await.ok()?;
            rx.await.ok()
        };
        tokio::time::timeout(COMMAND_TIMEOUT, exchange)
            .await
            .ok()
            .flatten()
    }

    /// Checks the request's `Authorization` header against the token (RFC 6750 §2.1).
    fn auth(&self, req: &Request) -> Auth {
        let Some(token) = &self.token else {
            return Auth::Disabled;
        };
        let Some(value) = req.header("authorization") else {
            return Auth::Missing;
        };
        let presented = match value.split_once(' ') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
            _ => return Auth::Wrong,
        };
        // Constant time in the token's content; only its length can leak.
        if bool::from(presented.as_bytes().ct_eq(token.expose().as_bytes())) {
            Auth::Ok
        } else {
            Auth::Wrong
        }
    }
}

/// The outcome of checking a request's credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Auth {
    /// The right bearer token.
    Ok,
    /// No `Authorization` header.
    Missing,
    /// Another scheme or a wrong token.
    Wrong,
    /// No token configured.
    Disabled,
}

fn unauthorized(auth: Auth) -> Response {
    match auth {
        Auth::Wrong => Response::error(401, "invalid bearer token").with_header(
            "WWW-Authenticate",
            "Bearer realm=\"sbc\", error=\"invalid_token\"",
        ),
        _ => Response::error(401, "bearer token required")
            .with_header("WWW-Authenticate", "Bearer realm=\"sbc\""),
    }
}

/// Answers one request: the route table of the module docs.
pub async fn route(state: &AdminState, req: &Request) -> Response {
    let auth = state.auth(req);
    let read = req.method == "GET" || req.method == "HEAD";
    let not_allowed =
        || Response::error(405, "method not allowed").with_header("Allow", "GET, HEAD");
    if req.path == "/api/v1" || req.path.starts_with("/api/v1/") {
        match auth {
            Auth::Ok => {}
            Auth::Disabled => {
                return Response::error(403, "management API disabled: set [admin] token")
            }
            Auth::Missing | Auth::Wrong => return unauthorized(auth),
        }
        return match req.path.as_str() {
            "/api/v1/status" if read => status(state),
            "/api/v1/status" => not_allowed(),
            "/api/v1/calls" => calls(state, req).await,
            "/api/v1/registrations" => registrations(state, req).await,
            p => match p.strip_prefix("/api/v1/calls/") {
                Some(id) => call(state, req, id).await,
                None => match p.strip_prefix("/api/v1/registrations/") {
                    Some(aor) => registration(state, req, aor).await,
                    None => Response::error(404, "no such endpoint"),
                },
            },
        };
    }
    if auth == Auth::Wrong {
        return unauthorized(auth);
    }
    match req.path.as_str() {
        "/metrics" | "/health" | "/ready" if !read => not_allowed(),
        "/metrics" => Response {
            status: 200,
            content_type: TEXT_CONTENT_TYPE,
            headers: Vec::new(),
            body: state.metrics.encode().into_bytes(),
        },
        "/health" => Response::json(200, &serde_json::json!({ "status": "ok" })),
        "/ready" => {
            let ready = state.metrics.is_ready();
            Response::json(
                if ready { 200 } else { 503 },
                &serde_json::json!({ "ready": ready }),
            )
        }
        _ => Response::error(404, "not found"),
    }
}

/// `GET /api/v1/status`: identity, readiness and the live counts.
fn status(state: &AdminState) -> Response {
    let m = &state.metrics;
    let (calls, transactions, dialogs) = m.core_gauges();
    let (sessions, streams) = m.relay_gauges();
    Response::json(
        200,
        &serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "node": state.node,
            "ready": m.is_ready(),
            "uptime_seconds": state.started.elapsed().as_secs(),
            "calls_active": calls,
            "transactions_active": transactions,
            "dialogs_active": dialogs,
            "relay_sessions_active": sessions,
            "relay_streams_active": streams,
        }),
    )
}

/// The answer when the driver cannot take commands.
fn no_driver() -> Response {
    Response::error(
        503,
        "call control unavailable: the SIP driver did not answer",
    )
}

fn command_error(e: &CommandError) -> Response {
    Response::error(e.status(), &e.to_string())
}

/// `/api/v1/calls`: `GET` lists the live calls, `POST` starts a click-to-dial call.
async fn calls(state: &AdminState, req: &Request) -> Response {
    match req.method.as_str() {
        "GET" | "HEAD" => match state.ask(|reply| Command::ListCalls { reply }).await {
            Some(calls) => Response::json(200, &serde_json::json!({ "calls": calls })),
            None => no_driver(),
        },
        "POST" => {
            let (a, b) = match originate_body(req) {
                Ok(t) => t,
                Err(r) => return r,
            };
            match state.ask(|reply| Command::Originate { a, b, reply }).await {
                Some(Ok(id)) => {
                    Response::json(201, &serde_json::json!({ "id": id, "state": "dialing" }))
                        .with_header("Location", format!("/api/v1/calls/{id}"))
                }
                Some(Err(e)) => command_error(&e),
                None => no_driver(),
            }
        }
        _ => Response::error(405, "method not allowed").with_header("Allow", "GET, HEAD, POST"),
    }
}

/// `/api/v1/calls/{id}`: `GET` shows one call, `DELETE` terminates it.
async fn call(state: &AdminState, req: &Request, id: &str) -> Response {
    let Ok(id) = id.parse::<u64>() else {
        return Response::error(400, "call id must be a decimal integer");
    };
    match req.method.as_str() {
        "GET" | "HEAD" => match state.ask(|reply| Command::GetCall { id, reply }).await {
            Some(Ok(call)) => Response::json(200, &call),
            Some(Err(e)) => command_error(&e),
            None => no_driver(),
        },
        "DELETE" => match state.ask(|reply| Command::Terminate { id, reply }).await {
            Some(Ok(())) => Response::json(
                202,
                &serde_json::json!({ "id": id, "state": "terminating" }),
            ),
            Some(Err(e)) => command_error(&e),
            None => no_driver(),
        },
        _ => Response::error(405, "method not allowed").with_header("Allow", "GET, HEAD, DELETE"),
    }
}

/// `GET /api/v1/registrations`: every customer binding (RFC 3261 §10.3).
async fn registrations(state: &AdminState, req: &Request) -> Response {
    match req.method.as_str() {
        "GET" | "HEAD" => match state
            .ask(|reply| Command::ListRegistrations { reply })
            .await
        {
            Some(list) => Response::json(200, &serde_json::json!({ "registrations": list })),
            None => no_driver(),
        },
        _ => Response::error(405, "method not allowed").with_header("Allow", "GET, HEAD"),
    }
}

/// `DELETE /api/v1/registrations/{aor}`: removes every binding of the (percent-encoded)
/// address-of-record.
async fn registration(state: &AdminState, req: &Request, aor: &str) -> Response {
    if req.method != "DELETE" {
        return Response::error(405, "method not allowed").with_header("Allow", "DELETE");
    }
    let Some(aor) = percent_decode(aor).filter(|a| a.starts_with("sip:") && a.contains('@')) else {
        return Response::error(400, "the address-of-record must be a sip: URI with a user");
    };
    match state
        .ask(|reply| Command::RemoveRegistration {
            aor: aor.clone(),
            reply,
        })
        .await
    {
        Some(Ok(n)) => Response::json(200, &serde_json::json!({ "aor": aor, "removed": n })),
        Some(Err(e)) => command_error(&e),
        None => no_driver(),
    }
}

/// Decodes `%XX` escapes of a path segment (RFC 3986 §2.1); `None` for a bad escape or
/// non-UTF-8 result.
fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hi = char::from(bytes.next()?).to_digit(16)?;
            let lo = char::from(bytes.next()?).to_digit(16)?;
            out.push(u8::try_from(hi * 16 + lo).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

/// Reads a click-to-dial body: `{"a": {"user", "route"}, "b": {"user", "route"}}`.
fn originate_body(req: &Request) -> Result<(Target, Target), Response> {
    if let Some(ct) = req.header("content-type") {
        let media = ct.split(';').next().unwrap_or_default().trim();
        if !media.eq_ignore_ascii_case("application/json") {
            return Err(Response::error(415, "body must be application/json"));
        }
    }
    let body: serde_json::Value = serde_json::from_slice(&req.body)
        .map_err(|e| Response::error(400, &format!("body is not JSON: {e}")))?;
    let target = |name: &str| {
        let field = |f: &str| {
            body.get(name)
                .and_then(|p| p.get(f))
                .and_then(|v| v.as_str())
        };
        match (field("user"), field("route")) {
            (Some(user), Some(route)) => Ok(Target {
                user: user.to_owned(),
                route: route.to_owned(),
            }),
            _ => Err(Response::error(
                400,
                &format!("\"{name}\" must be an object with string fields \"user\" and \"route\""),
            )),
        }
    };
    Ok((target("a")?, target("b")?))
}

/// A request that could not be read, answered with this status and message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The status code.
    pub status: u16,
    /// Why, for the JSON body.
    pub message: &'static str,
}

const fn refuse(status: u16, message: &'static str) -> Refusal {
    Refusal { status, message }
}

/// Parses a request head (the bytes before the blank line) into a [`Request`] without a body,
/// and the body length it announces (RFC 9112 §3, §5, §6.3).
pub fn parse_head(head: &[u8]) -> Result<(Request, usize), Refusal> {
    let text = std::str::from_utf8(head).map_err(|_| refuse(400, "request head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let line = lines.next().unwrap_or_default();
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(refuse(400, "malformed request line"));
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(refuse(400, "malformed method"));
    }
    if !target.starts_with('/') {
        return Err(refuse(400, "request target must be an absolute path"));
    }
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(refuse(505, "only HTTP/1.0 and HTTP/1.1"));
    }
    let path = target
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .to_owned();
    let mut headers = Vec::new();
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(refuse(400, "malformed header line"));
        };
        if name.is_empty() || name.bytes().any(|b| b.is_ascii_whitespace()) {
            return Err(refuse(400, "malformed header name"));
        }
        let name = name.to_ascii_lowercase();
        let value = value.trim().to_owned();
        match name.as_str() {
            "transfer-encoding" => return Err(refuse(501, "transfer codings are not supported")),
            "content-length" => {
                let n: usize = value
                    .parse()
                    .map_err(|_| refuse(400, "malformed Content-Length"))?;
                if length.is_some_and(|l| l != n) {
                    return Err(refuse(400, "conflicting Content-Length"));
                }
                length = Some(n);
            }
            _ => {}
        }
        headers.push((name, value));
    }
    let length = length.unwrap_or(0);
    if length > MAX_BODY {
        return Err(refuse(413, "body too large"));
    }
    let req = Request {
        method: method.to_owned(),
        path,
        headers,
        body: Vec::new(),
    };
    Ok((req, length))
}

/// Reads one request from `stream`: the head up to [`MAX_HEAD`], then its body.
async fn read_request(stream: &mut TcpStream) -> Result<Request, Refusal> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEAD {
            return Err(refuse(431, "request head too large"));
        }
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|_| refuse(400, "read failed"))?;
        if n == 0 {
            return Err(refuse(400, "connection closed mid-request"));
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    };
    if head_end > MAX_HEAD {
        return Err(refuse(431, "request head too large"));
    }
    let (mut req, length) = parse_head(buf.get(..head_end).unwrap_or_default())?;
    let mut body = buf.split_off(head_end + 4);
    if body.len() < length {
        let start = body.len();
        body.resize(length, 0);
        stream
            .read_exact(body.get_mut(start..).unwrap_or_default())
            .await
            .map_err(|_| refuse(400, "connection closed mid-body"))?;
    }
    body.truncate(length);
    req.body = body;
    Ok(req)
}

/// Serves one connection: one request, one answer, close.
async fn serve(state: &AdminState, mut stream: TcpStream) {
    let exchange = async {
        let (rsp, head_only) = match read_request(&mut stream).await {
            Ok(req) => (route(state, &req).await, req.method == "HEAD"),
            Err(r) => (Response::error(r.status, r.message), false),
        };
        let _ = stream.write_all(&rsp.to_bytes(head_only)).await;
        let _ = stream.shutdown().await;
    };
    if tokio::time::timeout(EXCHANGE_TIMEOUT, exchange)
        .await
        .is_err()
    {
        let rsp = Response::error(408, "request not received in time");
        let _ = stream.write_all(&rsp.to_bytes(false)).await;
    }
}

/// The bound admin endpoint.
#[derive(Debug)]
pub struct AdminServer {
    listener: TcpListener,
    state: Arc<AdminState>,
}

impl AdminServer {
    /// Binds `[admin] listen`.
    pub async fn bind(cfg: &Config, metrics: Arc<Metrics>) -> Result<Self, AdminError> {
        let addr = cfg.admin.listen;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| AdminError::Bind { addr, source })?;
        Ok(Self {
            listener,
            state: Arc::new(AdminState::new(cfg, metrics)),
        })
    }

    /// Attaches the driver's command channel ([`crate::driver::Driver::commands`]), which the
    /// call endpoints need; without it they answer 503.
    pub fn with_commands(mut self, commands: CommandSender) -> Self {
        if let Some(state) = Arc::get_mut(&mut self.state) {
            state.commands = Some(commands);
        }
        self
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts and serves connections forever, each on its own task, at most
    /// [`MAX_CONNECTIONS`] at once.
    pub async fn run(self) {
        let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        loop {
            let Ok(permit) = limit.clone().acquire_owned().await else {
                return;
            };
            match self.listener.accept().await {
                Ok((stream, _)) => {
                    let state = self.state.clone();
                    tokio::spawn(async move {
                        serve(&state, stream).await;
                        drop(permit);
                    });
                }
                Err(e) => {
                    // Out of fds and the like: back off instead of spinning.
                    tracing::warn!("admin accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
