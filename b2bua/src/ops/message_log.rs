//! Optional logging of whole SIP messages (`[general] log_sip_messages`): a token bucket caps the
//! lines per second, counting what it suppresses, and [`redact`] takes credentials out first, so
//! no digest response (RFC 3261 §22.4, RFC 7616 §3.4) or other Authorization value reaches a
//! log.

use std::borrow::Cow;
use std::time::Instant;

/// Headers whose values are never logged: digest credentials (RFC 3261 §20.7, §20.28).
const SECRET_HEADERS: &[&str] = &["authorization", "proxy-authorization"];

/// `text` with the value of every Authorization and Proxy-Authorization header (and its folded
/// continuation lines) replaced by `<redacted>`, keeping the scheme name, and the key material of
/// every SDES `a=crypto` attribute (`inline:<key||salt>`, RFC 4568 §9.1) and MIKEY `a=key-mgmt`
/// line replaced too; borrowed when there was nothing to hide.
pub fn redact(text: &str) -> Cow<'_, str> {
    match redact_headers(text) {
        Cow::Borrowed(t) => redact_keys(t),
        Cow::Owned(t) => Cow::Owned(redact_keys(&t).into_owned()),
    }
}

/// SDES and MIKEY key material in SDP (anywhere in the body, multipart parts included) replaced
/// by `<redacted>`: `inline:KEY|2^31|1:1` becomes `inline:<redacted>|2^31|1:1`.
fn redact_keys(text: &str) -> Cow<'_, str> {
    let body_start = text.find("\r\n\r\n").map_or(text.len(), |i| i + 4);
    let body = text.get(body_start..).unwrap_or("");
    if !body.contains("inline:") && !body.contains("a=key-mgmt:") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    out.push_str(text.get(..body_start).unwrap_or(""));
    for line in body.split_inclusive('\n') {
        if line.starts_with("a=key-mgmt:") {
            let (proto, _) = line
                .split_once(' ')
                .unwrap_or_else(|| (line.trim_end(), ""));
            out.push_str(proto);
            out.push_str(" <redacted>");
            out.push_str(if line.ends_with("\r\n") { "\r\n" } else { "\n" });
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("inline:") {
            out.push_str(&rest[..i + 7]);
            rest = &rest[i + 7..];
            // The key runs to the lifetime/MKI separator, the next key parameter or the end.
            let end = rest.find(['|', ';', ' ', '\r', '\n']).unwrap_or(rest.len());
            out.push_str("<redacted>");
            rest = &rest[end..];
        }
        out.push_str(rest);
    }
    Cow::Owned(out)
}

fn redact_headers(text: &str) -> Cow<'_, str> {
    let head_end = text.find("\r\n\r\n").unwrap_or(text.len());
    let head = text.get(..head_end).unwrap_or(text);
    let secret_line = |line: &str| {
        line.split_once(':').is_some_and(|(name, _)| {
            let name = name.trim();
            SECRET_HEADERS.iter().any(|s| name.eq_ignore_ascii_case(s))
        })
    };
    if !head.split("\r\n").any(secret_line) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut in_secret = false;
    for (i, line) in head.split("\r\n").enumerate() {
        if i > 0 {
            out.push_str("\r\n");
        }
        let folded = line.starts_with([' ', '\t']);
        if folded && in_secret {
            // A continuation of a redacted value (RFC 3261 §7.3.1): drop it.
            out.truncate(out.len().saturating_sub(2));
            continue;
        }
        in_secret = !folded && i > 0 && secret_line(line);
        if in_secret {
            let (name, value) = line.split_once(':').unwrap_or((line, ""));
            let scheme = value.split_whitespace().next().unwrap_or("");
            out.push_str(name);
            out.push_str(": ");
            if scheme.contains('=') {
                out.push_str("<redacted>");
            } else {
                out.push_str(scheme);
                out.push_str(" <redacted>");
            }
        } else {
            out.push_str(line);
        }
    }
    out.push_str(text.get(head_end..).unwrap_or(""));
    Cow::Owned(out)
}

/// A token bucket of `rate` lines per second with a burst of `rate`, on the caller's clock.
#[derive(Clone, Debug)]
pub struct MessageLog {
    rate: f64,
    tokens: f64,
    last: Option<Instant>,
    suppressed: u64,
}

impl MessageLog {
    /// A bucket allowing `rate_per_s` lines per second (at least one).
    pub fn new(rate_per_s: u32) -> Self {
        let rate = f64::from(rate_per_s.max(1));
        Self {
            rate,
            tokens: rate,
            last: None,
            suppressed: 0,
        }
    }

    /// Whether a line may be logged at `now`: `Some(n)` with the lines suppressed since the
    /// last one logged, or `None` (counted) when over the rate.
    pub fn admit(&mut self, now: Instant) -> Option<u64> {
        if let Some(last) = self.last {
            let dt = now.saturating_duration_since(last).as_secs_f64();
            self.tokens = (self.tokens + dt * self.rate).min(self.rate);
        }
        self.last = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn sdes_and_mikey_keys_are_redacted_from_bodies() {
        let key = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";
        let text = format!(
            "INVITE sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/TLS 192.0.2.1;branch=z9hG4bK1\r\nContent-Type: application/sdp\r\n\r\nv=0\r\nm=audio 4000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{key}|2^20|1:4\r\na=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:{key}\r\na=key-mgmt:mikey AQAFgM0XflABAAAAAAAAAAAAAAsAyO\r\n"
        );
        let out = redact(&text);
        assert!(!out.contains(key), "{out}");
        assert!(!out.contains("AQAFgM0Xfl"), "{out}");
        assert!(out.contains("inline:<redacted>|2^20|1:4\r\n"), "{out}");
        assert!(
            out.contains("AES_CM_128_HMAC_SHA1_32 inline:<redacted>\r\n"),
            "{out}"
        );
        assert!(out.contains("a=key-mgmt:mikey <redacted>\r\n"), "{out}");
        assert!(out.contains("m=audio 4000 RTP/SAVP 0\r\n"));
        // Headers and bodies without keys are left alone (and not copied).
        let plain = "OPTIONS sip:a@example.com SIP/2.0\r\n\r\nv=0\r\n";
        assert!(matches!(redact(plain), Cow::Borrowed(_)));
    }

    #[test]
    fn digest_credentials_are_redacted_and_nothing_else() {
        let msg = "REGISTER sip:example.com SIP/2.0\r\n\
            Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\
            Authorization: Digest username=\"alice\", realm=\"example.com\", nonce=\"abc\",\r\n \
            uri=\"sip:example.com\", response=\"6629fae49393a05397450978507c4ef1\"\r\n\
            proxy-authorization:Digest username=\"alice\",response=\"0123456789abcdef\"\r\n\
            Call-ID: c1\r\n\
            Content-Length: 13\r\n\r\n\
            response=\"x\"\r\n";
        let out = redact(msg);
        assert!(!out.contains("6629fae4"), "{out}");
        assert!(!out.contains("0123456789abcdef"), "{out}");
        assert!(!out.contains("nonce=\"abc\""), "{out}");
        assert!(!out.contains("uri=\"sip:example.com\""), "{out}");
        assert!(
            out.contains("Authorization: Digest <redacted>\r\n"),
            "{out}"
        );
        assert!(
            out.contains("proxy-authorization: Digest <redacted>\r\n"),
            "{out}"
        );
        assert!(out.contains("Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n"));
        assert!(out.contains("Call-ID: c1\r\n"));
        // The body is not a header: left alone.
        assert!(out.ends_with("\r\n\r\nresponse=\"x\"\r\n"), "{out}");
    }

    #[test]
    fn a_message_without_credentials_is_borrowed_unchanged() {
        let msg =
            "SIP/2.0 401 Unauthorized\r\nWWW-Authenticate: Digest realm=\"x\", nonce=\"n\"\r\n\r\n";
        assert!(matches!(redact(msg), Cow::Borrowed(m) if m == msg));
    }

    #[test]
    fn the_bucket_caps_the_rate_and_counts_what_it_suppressed() {
        let t0 = Instant::now();
        let mut log = MessageLog::new(3);
        let admitted: Vec<_> = (0..5).map(|_| log.admit(t0)).collect();
        assert_eq!(admitted, vec![Some(0), Some(0), Some(0), None, None]);
        // One token back after a third of a second: the line says two were suppressed.
        let t1 = t0 + Duration::from_millis(340);
        assert_eq!(log.admit(t1), Some(2));
        assert_eq!(log.admit(t1), None);
        // A long pause refills only up to the burst.
        let t2 = t1 + Duration::from_secs(60);
        let burst = (0..10).filter(|_| log.admit(t2).is_some()).count();
        assert_eq!(burst, 3);
    }
}
