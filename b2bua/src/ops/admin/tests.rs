//! The admin HTTP server: bearer tokens, probes and metrics, call endpoints and request parsing.

use super::*;

const TOKEN: &str = "0123456789abcdef-token";

fn state(token: Option<&str>) -> AdminState {
    let mut cfg = Config::embedded().unwrap();
    cfg.admin.token = token.map(Secret::new);
    cfg.general.node_name = "test-node".into();
    AdminState::new(&cfg, Arc::new(Metrics::new("test-node").unwrap()))
}

fn get(path: &str, auth: Option<&str>) -> Request {
    Request {
        method: "GET".into(),
        path: path.into(),
        headers: auth
            .map(|a| ("authorization".to_owned(), a.to_owned()))
            .into_iter()
            .collect(),
        body: Vec::new(),
    }
}

fn header<'a>(rsp: &'a Response, name: &str) -> Option<&'a str> {
    rsp.headers
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn api_needs_the_right_bearer_token() {
    let s = state(Some(TOKEN));
    let missing = route(&s, &get("/api/v1/status", None)).await;
    assert_eq!(missing.status, 401);
    assert_eq!(
        header(&missing, "WWW-Authenticate"),
        Some("Bearer realm=\"sbc\"")
    );
    for bad in [
        "Bearer wrong-token-wrong-token",
        "Bearer 0123456789abcdef-toke",
        "Basic MDEyMzQ1Njc4OWFiY2RlZi10b2tlbg==",
        TOKEN,
    ] {
        let rsp = route(&s, &get("/api/v1/status", Some(bad))).await;
        assert_eq!(rsp.status, 401, "{bad}");
        assert!(header(&rsp, "WWW-Authenticate")
            .unwrap()
            .contains("invalid_token"));
    }
    let ok = route(&s, &get("/api/v1/status", Some(&format!("bearer {TOKEN}")))).await;
    assert_eq!(ok.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&ok.body).unwrap();
    assert_eq!(v["node"], "test-node");
    assert_eq!(v["ready"], false);
    assert_eq!(v["calls_active"], 0);
    let unknown = route(&s, &get("/api/v1/nope", Some(&format!("Bearer {TOKEN}")))).await;
    assert_eq!(unknown.status, 404);
    // Unauthenticated callers learn nothing about which endpoints exist.
    assert_eq!(route(&s, &get("/api/v1/nope", None)).await.status, 401);
    assert_eq!(route(&s, &get("/api/v1/calls", None)).await.status, 401);
}

#[tokio::test]
async fn api_is_off_without_a_token() {
    let s = state(None);
    assert_eq!(route(&s, &get("/api/v1/status", None)).await.status, 403);
    assert_eq!(
        route(&s, &get("/api/v1/status", Some("Bearer x")))
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn probes_and_metrics_are_open_but_check_a_presented_token() {
    let s = state(Some(TOKEN));
    assert_eq!(route(&s, &get("/health", None)).await.status, 200);
    let ready = route(&s, &get("/ready", None)).await;
    assert_eq!(ready.status, 503);
    s.metrics.set_ready(true);
    assert_eq!(route(&s, &get("/ready", None)).await.status, 200);
    let m = route(&s, &get("/metrics", None)).await;
    assert_eq!(m.status, 200);
    assert_eq!(m.content_type, "text/plain; version=0.0.4");
    assert!(String::from_utf8(m.body)
        .unwrap()
        .contains("sbc_calls_active 0"));
    let bearer = format!("Bearer {TOKEN}");
    assert_eq!(route(&s, &get("/metrics", Some(&bearer))).await.status, 200);
    assert_eq!(
        route(&s, &get("/metrics", Some("Bearer nope")))
            .await
            .status,
        401
    );
    assert_eq!(route(&s, &get("/nope", None)).await.status, 404);
    let mut post = get("/metrics", None);
    post.method = "POST".into();
    let rsp = route(&s, &post).await;
    assert_eq!(rsp.status, 405);
    assert_eq!(header(&rsp, "Allow"), Some("GET, HEAD"));
}

fn with_body(method: &str, path: &str, body: &str) -> Request {
    let mut req = get(path, Some(&format!("Bearer {TOKEN}")));
    req.method = method.into();
    req.body = body.as_bytes().to_vec();
    req
}

async fn error_of(s: &AdminState, req: &Request) -> (u16, String) {
    let rsp = route(s, req).await;
    let v: serde_json::Value = serde_json::from_slice(&rsp.body).unwrap();
    (rsp.status, v["error"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn call_endpoints_refuse_bad_input_before_asking_the_driver() {
    let s = state(Some(TOKEN));
    let cases = [
        (with_body("POST", "/api/v1/calls", "{"), 400, "not JSON"),
        (
            with_body("POST", "/api/v1/calls", "[]"),
            400,
            "\"a\" must be an object",
        ),
        (
            with_body("POST", "/api/v1/calls", r#"{"a":{"user":"x","route":"r"}}"#),
            400,
            "\"b\" must be an object",
        ),
        (
            with_body(
                "POST",
                "/api/v1/calls",
                r#"{"a":{"user":1,"route":"r"},"b":{}}"#,
            ),
            400,
            "\"a\" must be",
        ),
        (
            with_body("GET", "/api/v1/calls/abc", ""),
            400,
            "decimal integer",
        ),
        (
            with_body("DELETE", "/api/v1/calls/-1", ""),
            400,
            "decimal integer",
        ),
        (
            with_body("PUT", "/api/v1/calls", ""),
            405,
            "method not allowed",
        ),
        (
            with_body("POST", "/api/v1/calls/1", ""),
            405,
            "method not allowed",
        ),
        (
            with_body("POST", "/api/v1/registrations", ""),
            405,
            "method not allowed",
        ),
        (
            with_body("DELETE", "/api/v1/registrations/alice", ""),
            400,
            "sip: URI",
        ),
        (
            with_body("DELETE", "/api/v1/registrations/sip:bob@x%zz", ""),
            400,
            "sip: URI",
        ),
        (
            with_body("GET", "/api/v1/registrations", ""),
            503,
            "unavailable",
        ),
        // Well-formed, but no driver is attached to these unit tests.
        (with_body("GET", "/api/v1/calls", ""), 503, "unavailable"),
        (
            with_body("DELETE", "/api/v1/calls/7", ""),
            503,
            "unavailable",
        ),
    ];
    for (req, status, text) in cases {
        let (got, error) = error_of(&s, &req).await;
        assert_eq!(got, status, "{} {}: {error}", req.method, req.path);
        assert!(error.contains(text), "{error}");
    }
    let mut xml = with_body("POST", "/api/v1/calls", "<a/>");
    xml.headers.push(("content-type".into(), "text/xml".into()));
    assert_eq!(error_of(&s, &xml).await.0, 415);
}

#[tokio::test]
async fn call_endpoints_relay_the_driver_answers() {
    let (tx, mut rx) = crate::ops::management::channel();
    let s = state(Some(TOKEN)).with_commands(tx);
    // A stand-in for the driver task that answers each command kind once.
    let driver = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some(cmd) = rx.recv().await {
            match cmd {
                Command::ListCalls { reply } => {
                    seen.push("list".to_owned());
                    let _ = reply.send(vec![serde_json::json!({ "id": 4 })]);
                }
                Command::GetCall { id, reply } => {
                    seen.push(format!("get {id}"));
                    let _ = reply.send(Err(CommandError::NoSuchCall));
                }
                Command::Terminate { id, reply } => {
                    seen.push(format!("terminate {id}"));
                    let _ = reply.send(Ok(()));
                }
                Command::Originate { a, b, reply } => {
                    seen.push(format!(
                        "originate {}@{} {}@{}",
                        a.user, a.route, b.user, b.route
                    ));
                    let _ = reply.send(Ok(9));
                }
                Command::ListRegistrations { reply } => {
                    seen.push("registrations".to_owned());
                    let _ = reply.send(Vec::new());
                }
                Command::RemoveRegistration { aor, reply } => {
                    seen.push(format!("unregister {aor}"));
                    let _ = reply.send(Err(CommandError::NoSuchRegistration));
                }
            }
        }
        seen
    });
    let list = route(&s, &with_body("GET", "/api/v1/calls", "")).await;
    assert_eq!(list.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&list.body).unwrap();
    assert_eq!(v["calls"][0]["id"], 4);
    assert_eq!(
        error_of(&s, &with_body("GET", "/api/v1/calls/5", ""))
            .await
            .0,
        404
    );
    let del = route(&s, &with_body("DELETE", "/api/v1/calls/4", "")).await;
    assert_eq!(del.status, 202);
    let body = r#"{"a":{"user":"alice","route":"ra"},"b":{"user":"bob","route":"rb"}}"#;
    let mut post = with_body("POST", "/api/v1/calls", body);
    post.headers.push((
        "content-type".into(),
        "application/json; charset=utf-8".into(),
    ));
    let created = route(&s, &post).await;
    assert_eq!(created.status, 201);
    assert_eq!(header(&created, "Location"), Some("/api/v1/calls/9"));
    let regs = route(&s, &with_body("GET", "/api/v1/registrations", "")).await;
    assert_eq!(regs.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&regs.body).unwrap();
    assert_eq!(v["registrations"], serde_json::json!([]));
    let gone = route(
        &s,
        &with_body(
            "DELETE",
            "/api/v1/registrations/sip%3Aalice%40example.com",
            "",
        ),
    )
    .await;
    assert_eq!(gone.status, 404);
    drop(s);
    assert_eq!(
        driver.await.unwrap(),
        [
            "list",
            "get 5",
            "terminate 4",
            "originate alice@ra bob@rb",
            "registrations",
            "unregister sip:alice@example.com"
        ]
    );
}

#[test]
fn parses_a_request_head() {
    let (req, len) = parse_head(
        b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer t\r\nContent-Length: 3",
    )
    .unwrap();
    assert_eq!(req.method, "GET");
    assert_eq!(req.path, "/metrics");
    assert_eq!(req.header("authorization"), Some("Bearer t"));
    assert_eq!(req.header("host"), Some("a"));
    assert_eq!(len, 3);
}

#[test]
fn refuses_bad_requests_with_a_clear_status() {
    let cases: [(&[u8], u16); 10] = [
        (b"GET /x", 400),
        (b"GET /x HTTP/1.1 extra", 400),
        (b"get /x HTTP/1.1", 400),
        (b"GET http://h/x HTTP/1.1", 400),
        (b"GET /x HTTP/2.0", 505),
        (b"GET /x HTTP/1.1\r\nbroken", 400),
        (b"GET /x HTTP/1.1\r\nTransfer-Encoding: chunked", 501),
        (b"GET /x HTTP/1.1\r\nContent-Length: -1", 400),
        (
            b"GET /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2",
            400,
        ),
        (b"GET /x HTTP/1.1\r\nContent-Length: 1000000", 413),
    ];
    for (head, status) in cases {
        let got = parse_head(head).map(|_| ()).unwrap_err().status;
        assert_eq!(got, status, "{}", String::from_utf8_lossy(head));
    }
    assert_eq!(
        parse_head(b"GET /x HTTP/1.1\r\n\xff: a")
            .unwrap_err()
            .status,
        400
    );
}

#[test]
fn head_answers_carry_no_body() {
    let rsp = Response::error(404, "not found");
    let full = rsp.to_bytes(false);
    let head = rsp.to_bytes(true);
    let text = String::from_utf8(head).unwrap();
    assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"), "{text}");
    assert!(text.contains(&format!("Content-Length: {}\r\n", rsp.body.len())));
    assert!(text.contains("Connection: close\r\n"));
    assert!(text.ends_with("\r\n\r\n"));
    assert!(full.ends_with(b"{\"error\":\"not found\"}\n"));
}
