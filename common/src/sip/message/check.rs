//! The typed checks a parsed message must pass before the SBC acts on it (RFC 3261 §8.2).

use super::*;

/// The typed checks a message must pass before the SBC acts on it (RFC 3261 §8.1.1, §8.2).
pub(super) fn validate(msg: &Message) -> Result<(), ParseErrorKind> {
    use ParseErrorKind as K;
    if let Some(uri) = msg.uri() {
        let scheme = uri.split_once(':').map_or("", |(s, _)| s);
        if !["sip", "sips", "tel"]
            .iter()
            .any(|s| scheme.eq_ignore_ascii_case(s))
        {
            return Err(K::UnsupportedScheme);
        }
        if msg.request_uri().is_none() {
            return Err(K::BadUri);
        }
    }
    // One pass over the headers for the ones that may appear once: (first index, seen twice).
    const FROM: usize = 0;
    const TO: usize = 1;
    const CALL_ID: usize = 2;
    const CSEQ: usize = 3;
    const MAX_FORWARDS: usize = 4;
    const EXPIRES: usize = 5;
    let mut seen: [(Option<usize>, bool); 6] = [(None, false); 6];
    for (i, h) in msg.headers.iter().enumerate() {
        let k = match h.name() {
            HeaderName::From => FROM,
            HeaderName::To => TO,
            HeaderName::CallId => CALL_ID,
            HeaderName::CSeq => CSEQ,
            HeaderName::MaxForwards => MAX_FORWARDS,
            HeaderName::Expires => EXPIRES,
            _ => continue,
        };
        if let Some((first, twice)) = seen.get_mut(k) {
            match first {
                Some(_) => *twice = true,
                None => *first = Some(i),
            }
        }
    }
    let present = |k: usize| seen.get(k).is_some_and(|(first, _)| first.is_some());
    let once = |k: usize, label: &'static str| -> Result<&str, ParseErrorKind> {
        let (first, twice) = seen.get(k).copied().unwrap_or((None, false));
        let first = first
            .and_then(|i| msg.headers.get(i))
            .ok_or(K::MissingHeader(label))?;
        if twice {
            return Err(K::DuplicateHeader(label));
        }
        Ok(first.value())
    };
    // Via: at least one, all well-formed.
    let mut n = 0;
    for v in msg.vias() {
        v.map_err(K::BadHeader)?;
        n += 1;
    }
    if n == 0 {
        return Err(K::MissingHeader("Via"));
    }
    once(FROM, "From")?;
    if let Some(Err(e)) = msg.parsed_from() {
        return Err(K::BadHeader(e));
    }
    once(TO, "To")?;
    if let Some(Err(e)) = msg.parsed_to() {
        return Err(K::BadHeader(e));
    }
    let call_id = once(CALL_ID, "Call-ID")?;
    if call_id.is_empty() || has_whitespace(call_id) {
        return Err(K::BadHeader(HeaderError::new("Call-ID", "bad value")));
    }
    once(CSEQ, "CSeq")?;
    let cseq = msg
        .parsed_cseq()
        .ok_or(K::MissingHeader("CSeq"))?
        .map_err(K::BadHeader)?;
    if let Some(m) = msg.method() {
        if cseq.method != m.as_str() {
            return Err(K::CSeqMismatch);
        }
    }
    if present(MAX_FORWARDS) {
        let mf = once(MAX_FORWARDS, "Max-Forwards")?;
        if parse_u32(mf).is_none_or(|v| v > 255) {
            return Err(K::BadHeader(HeaderError::new(
                "Max-Forwards",
                "not a number 0-255",
            )));
        }
    }
    if present(EXPIRES) {
        let v = once(EXPIRES, "Expires")?;
        if parse_delta_seconds(v).is_none() {
            return Err(K::BadHeader(HeaderError::new(
                "Expires",
                "not delta-seconds",
            )));
        }
    }
    if msg.is_request() {
        for c in msg.contacts() {
            c.map_err(K::BadHeader)?;
        }
    }
    Ok(())
}

/// Whether `s` contains a character with the Unicode White_Space property, byte-wise for ASCII.
pub(in crate::sip) fn has_whitespace(s: &str) -> bool {
    if s.is_ascii() {
        // The ASCII White_Space characters: HT, LF, VT, FF, CR and SP.
        s.bytes()
            .any(|b| matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' '))
    } else {
        s.contains(char::is_whitespace)
    }
}

/// Checks a header value against the typed parser for its name, for callers that want eager
/// validation of headers the parser reads lazily.
pub fn check_header(name: &HeaderName, value: &str) -> Result<(), HeaderError> {
    match name {
        HeaderName::Via => split_list(value).try_for_each(|v| Via::parse(v).map(drop)),
        HeaderName::From | HeaderName::To | HeaderName::ReferTo | HeaderName::ReferredBy => {
            NameAddr::parse(value).map(drop)
        }
        HeaderName::Contact => split_list(value).try_for_each(|v| Contact::parse(v).map(drop)),
        HeaderName::Route | HeaderName::RecordRoute => {
            split_list(value).try_for_each(|v| NameAddr::parse(v).map(drop))
        }
        HeaderName::CSeq => CSeq::parse(value).map(drop),
        HeaderName::RAck => RAck::parse(value).map(drop),
        HeaderName::SessionExpires => SessionExpires::parse(value).map(drop),
        HeaderName::SubscriptionState => SubscriptionState::parse(value).map(drop),
        HeaderName::Replaces => Replaces::parse(value).map(drop),
        _ => Ok(()),
    }
}
