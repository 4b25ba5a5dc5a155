//! Views of the smaller typed headers: CSeq, RAck, Event, Subscription-State, Session-Expires,
//! Replaces and numbers (RFC 3261 §20, RFC 3262, RFC 6665, RFC 4028, RFC 3891).

use super::method::{is_token, Method};
use super::params::Params;
use thiserror::Error;

/// A header that could not be read, with the header's name and what is wrong with it; it becomes the
/// reason phrase of a 400 (RFC 3261 §21.4.1).
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
#[error("Bad {header} header: {reason}")]
pub struct HeaderError {
    /// The header's canonical name.
    pub header: &'static str,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl HeaderError {
    /// A new error for `header`.
    pub fn new(header: &'static str, reason: &'static str) -> Self {
        Self { header, reason }
    }
}

/// The CSeq header: sequence number and method (RFC 3261 §20.16).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CSeq<'a> {
    /// The sequence number, below 2^31 (RFC 3261 §8.1.1.5).
    pub seq: u32,
    /// The method token as written.
    pub method: &'a str,
}

impl<'a> CSeq<'a> {
    /// Parses `4711 INVITE`.
    pub fn parse(s: &'a str) -> Result<Self, HeaderError> {
        let err = |r| HeaderError::new("CSeq", r);
        let mut it = s.split_ascii_whitespace();
        let seq = parse_u32(it.next().ok_or_else(|| err("missing number"))?)
            .filter(|n| *n < 1 << 31)
            .ok_or_else(|| err("bad sequence number"))?;
        let method = it.next().ok_or_else(|| err("missing method"))?;
        if !is_token(method) || it.next().is_some() {
            return Err(err("bad method"));
        }
        Ok(Self { seq, method })
    }

    /// The method as a [`Method`].
    pub fn method(&self) -> Option<Method> {
        Method::from_token(self.method)
    }
}

/// The RAck header of a PRACK: RSeq, CSeq number and method (RFC 3262 §7.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RAck<'a> {
    /// The RSeq being acknowledged.
    pub rseq: u32,
    /// The CSeq number of the INVITE.
    pub cseq: u32,
    /// The method of the INVITE's CSeq.
    pub method: &'a str,
}

impl<'a> RAck<'a> {
    /// Parses `776656 1 INVITE`.
    pub fn parse(s: &'a str) -> Result<Self, HeaderError> {
        let err = |r| HeaderError::new("RAck", r);
        let mut it = s.split_ascii_whitespace();
        let rseq = it
            .next()
            .and_then(parse_u32)
            .ok_or_else(|| err("bad RSeq"))?;
        let cseq = it
            .next()
            .and_then(parse_u32)
            .ok_or_else(|| err("bad CSeq number"))?;
        let method = it
            .next()
            .filter(|m| is_token(m))
            .ok_or_else(|| err("bad method"))?;
        if it.next().is_some() {
            return Err(err("trailing text"));
        }
        Ok(Self { rseq, cseq, method })
    }
}

/// A token followed by parameters: Event, Subscription-State, Session-Expires, Min-SE, Retry-After,
/// Content-Type and Content-Disposition share this shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenParams<'a> {
    /// The leading value (event package, state, delta-seconds, media type...).
    pub value: &'a str,
    /// The parameters after it.
    pub params: Params<'a>,
}

impl<'a> TokenParams<'a> {
    /// Parses `value;p=1;q`.
    pub fn parse(s: &'a str, header: &'static str) -> Result<Self, HeaderError> {
        let s = s.trim();
        let (value, params) = match s.find(';') {
            Some(i) => s.split_at_checked(i).unwrap_or((s, "")),
            None => (s, ""),
        };
        let value = value.trim();
        if value.is_empty() {
            return Err(HeaderError::new(header, "missing value"));
        }
        let params = Params::new(params);
        params.validate().map_err(|r| HeaderError::new(header, r))?;
        Ok(Self { value, params })
    }
}

/// The Event header: package and `id` (RFC 6665 §8.2.1).
pub fn parse_event(s: &str) -> Result<(TokenParams<'_>, Option<&str>), HeaderError> {
    let t = TokenParams::parse(s, "Event")?;
    if !is_token(t.value) {
        return Err(HeaderError::new("Event", "bad event package"));
    }
    Ok((t, t.params.value("id")))
}

/// The state of a subscription (RFC 6665 §8.2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubscriptionState<'a> {
    /// `active`, `pending`, `terminated` or an extension.
    pub state: &'a str,
    /// Remaining seconds, if given.
    pub expires: Option<u32>,
    /// The termination reason, if given.
    pub reason: Option<&'a str>,
    /// Seconds after which the subscriber may retry, if given.
    pub retry_after: Option<u32>,
}

impl<'a> SubscriptionState<'a> {
    /// Parses `active;expires=3600` or `terminated;reason=timeout`.
    pub fn parse(s: &'a str) -> Result<Self, HeaderError> {
        let t = TokenParams::parse(s, "Subscription-State")?;
        if !is_token(t.value) {
            return Err(HeaderError::new("Subscription-State", "bad state"));
        }
        Ok(Self {
            state: t.value,
            expires: t.params.value("expires").and_then(parse_u32),
            reason: t.params.value("reason"),
            retry_after: t.params.value("retry-after").and_then(parse_u32),
        })
    }
}

/// Who refreshes a session (RFC 4028 §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refresher {
    /// The UAC refreshes.
    Uac,
    /// The UAS refreshes.
    Uas,
}

/// The Session-Expires header: interval and refresher (RFC 4028 §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionExpires {
    /// The session interval in seconds.
    pub delta: u32,
    /// The refresher, if named.
    pub refresher: Option<Refresher>,
}

impl SessionExpires {
    /// Parses `1800;refresher=uac`.
    pub fn parse(s: &str) -> Result<Self, HeaderError> {
        let err = |r| HeaderError::new("Session-Expires", r);
        let t = TokenParams::parse(s, "Session-Expires")?;
        let delta = parse_u32(t.value).ok_or_else(|| err("bad delta-seconds"))?;
        let refresher = match t.params.value("refresher") {
            None => None,
            Some(r) if r.eq_ignore_ascii_case("uac") => Some(Refresher::Uac),
            Some(r) if r.eq_ignore_ascii_case("uas") => Some(Refresher::Uas),
            Some(_) => return Err(err("bad refresher")),
        };
        Ok(Self { delta, refresher })
    }
}

/// The Replaces header: the dialog to replace (RFC 3891 §6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Replaces<'a> {
    /// The Call-ID of the dialog.
    pub call_id: &'a str,
    /// Its to-tag.
    pub to_tag: &'a str,
    /// Its from-tag.
    pub from_tag: &'a str,
    /// Whether `early-only` was given.
    pub early_only: bool,
}

impl<'a> Replaces<'a> {
    /// Parses `425928@bobster.example.org;to-tag=7743;from-tag=6472`.
    pub fn parse(s: &'a str) -> Result<Self, HeaderError> {
        let err = |r| HeaderError::new("Replaces", r);
        let t = TokenParams::parse(s, "Replaces")?;
        Ok(Self {
            call_id: t.value,
            to_tag: t
                .params
                .value("to-tag")
                .ok_or_else(|| err("missing to-tag"))?,
            from_tag: t
                .params
                .value("from-tag")
                .ok_or_else(|| err("missing from-tag"))?,
            early_only: t.params.has("early-only"),
        })
    }
}

/// Parses a decimal number of at most 10 digits into a u32 (delta-seconds, Content-Length, ...).
pub fn parse_u32(s: &str) -> Option<u32> {
    let s = s.trim();
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses a delta-seconds value, saturating huge values to u32::MAX as RFC 3261 §25.1 allows for
/// Expires (any value above 2^32-1 is taken as 2^32-1).
pub fn parse_delta_seconds(s: &str) -> Option<u32> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse().unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cseq() {
        let c = CSeq::parse("4711 INVITE").unwrap();
        assert_eq!((c.seq, c.method), (4711, "INVITE"));
        assert_eq!(c.method(), Some(Method::Invite));
        assert_eq!(CSeq::parse("  1\tREGISTER ").unwrap().seq, 1);
        assert!(CSeq::parse("2147483648 INVITE").is_err());
        assert!(CSeq::parse("-1 INVITE").is_err());
        assert!(CSeq::parse("1").is_err());
        assert!(CSeq::parse("1 INVITE extra").is_err());
        assert!(CSeq::parse("99999999999999999999 INVITE").is_err());
    }

    #[test]
    fn rack_event_substate() {
        let r = RAck::parse("776656 1 INVITE").unwrap();
        assert_eq!((r.rseq, r.cseq, r.method), (776656, 1, "INVITE"));
        assert!(RAck::parse("1 INVITE").is_err());
        let (e, id) = parse_event("presence;id=77").unwrap();
        assert_eq!((e.value, id), ("presence", Some("77")));
        let (e, id) = parse_event("message-summary").unwrap();
        assert_eq!((e.value, id), ("message-summary", None));
        let s = SubscriptionState::parse("active;expires=3599").unwrap();
        assert_eq!((s.state, s.expires), ("active", Some(3599)));
        let s = SubscriptionState::parse("terminated;reason=timeout;retry-after=30").unwrap();
        assert_eq!((s.reason, s.retry_after), (Some("timeout"), Some(30)));
    }

    #[test]
    fn session_expires_and_replaces() {
        let s = SessionExpires::parse("1800;refresher=uac").unwrap();
        assert_eq!(s.delta, 1800);
        assert_eq!(s.refresher, Some(Refresher::Uac));
        assert_eq!(SessionExpires::parse("90").unwrap().refresher, None);
        assert!(SessionExpires::parse("x").is_err());
        assert!(SessionExpires::parse("90;refresher=me").is_err());
        let r = Replaces::parse("425928@bobster.example.org;to-tag=7743;from-tag=6472;early-only")
            .unwrap();
        assert_eq!(r.call_id, "425928@bobster.example.org");
        assert_eq!((r.to_tag, r.from_tag, r.early_only), ("7743", "6472", true));
        assert!(Replaces::parse("abc;to-tag=1").is_err());
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_u32("0"), Some(0));
        assert_eq!(parse_u32("4294967295"), Some(u32::MAX));
        assert_eq!(parse_u32("4294967296"), None);
        assert_eq!(parse_u32("+1"), None);
        assert_eq!(parse_delta_seconds("99999999999999999999"), Some(u32::MAX));
        assert_eq!(parse_delta_seconds("x"), None);
    }
}
