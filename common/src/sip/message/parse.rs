//! The SIP message codec: framing, start line, header lines and body (RFC 3261 §7, §18.3).

use super::*;

/// How many line ends of the head [`Head::find`] keeps; a longer head is read line by line.
const KEPT_LINE_ENDS: usize = 64;

/// Where the header section ends, and where its lines end, found in one pass over the message.
struct Head {
    /// The end of the last header line, its terminator included.
    end: usize,
    /// Where the body starts, after the empty line.
    body_start: usize,
    /// One past each line's `\n`, start line first, while there were at most
    /// [`KEPT_LINE_ENDS`] lines.
    line_ends: [u32; KEPT_LINE_ENDS],
    /// How many of `line_ends` are set.
    lines: usize,
    /// Whether `line_ends` holds every line of the head.
    complete: bool,
}

impl Head {
    /// Finds the empty line ending the header section, noting each line's end on the way.
    fn find(data: &[u8]) -> Option<Self> {
        let mut head = Self {
            end: 0,
            body_start: 0,
            line_ends: [0; KEPT_LINE_ENDS],
            lines: 0,
            complete: true,
        };
        for nl in memchr::memchr_iter(b'\n', data) {
            let after = nl + 1;
            match head.line_ends.get_mut(head.lines) {
                Some(slot) if u32::try_from(after).is_ok() => {
                    *slot = after as u32;
                    head.lines += 1;
                }
                _ => head.complete = false,
            }
            let body_start = match data.get(after) {
                Some(b'\n') => after + 1,
                Some(b'\r') if data.get(after + 1) == Some(&b'\n') => after + 2,
                _ => continue,
            };
            head.end = after;
            head.body_start = body_start;
            return Some(head);
        }
        None
    }

    /// The end (one past its `\n`) of line `k` of the head, which starts at `from` in `head`.
    fn line_end(&self, k: usize, head: &[u8], from: usize) -> usize {
        match self.line_ends.get(k) {
            Some(&end) if k < self.lines => end as usize,
            _ => line_end(head, from),
        }
    }

    /// How many lines the head has, start line included.
    fn line_count(&self, head: &[u8]) -> usize {
        if self.complete {
            self.lines
        } else {
            memchr::memchr_iter(b'\n', head).count()
        }
    }
}

pub(super) fn parse(data: Bytes, limits: &Limits, stream: bool) -> Result<Message, ParseError> {
    use ParseErrorKind as K;
    if data.len() > limits.max_message_bytes {
        return Err(ParseError::new(K::MessageTooLarge));
    }
    // RFC 3261 §7.5: ignore CRLFs before the start line.
    let lead = data
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(data.len());
    let data = data.slice(lead..);
    let found = Head::find(&data).ok_or_else(|| ParseError::new(K::Incomplete))?;
    let (head_end, body_start) = (found.end, found.body_start);
    let head =
        ByteString::try_from(data.slice(..head_end)).map_err(|_| ParseError::new(K::NotUtf8))?;
    let separator = match data.get(head_end..body_start) {
        Some(b"\n") => ByteString::from_static("\n"),
        _ => ByteString::from_static("\r\n"),
    };

    // The start line: its text without the line ending, and the raw slice with it.
    let hb = head.as_bytes();
    let first_end = found.line_end(0, hb, 0);
    let first_raw = head.get(..first_end).unwrap_or_default();
    let first_text = first_raw.strip_suffix('\n').unwrap_or(first_raw);
    let first_text = first_text.strip_suffix('\r').unwrap_or(first_text);
    let start = parse_start_line(&head, first_text, limits)?;
    let mut msg = Message {
        start,
        start_raw: Some(head.slice_ref(first_raw)),
        headers: Vec::new(),
        separator_raw: Some(separator),
        body: Bytes::new(),
        views: OnceCell::new(),
    };

    // Header lines, joining folded continuation lines (RFC 3261 §7.3.1).
    // One slot per line after the start line (folded lines make it an overestimate): a parsed
    // message kept for a whole call holds no spare capacity.
    msg.headers.reserve_exact(found.line_count(hb).max(1));
    let mut pos = first_end;
    let mut k = 1;
    let mut result = Ok(());
    while pos < hb.len() {
        if matches!(hb.get(pos), Some(b' ' | b'\t')) {
            result = Err(K::BadHeaderLine);
            break;
        }
        let mut end = found.line_end(k, hb, pos);
        k += 1;
        let mut folded = false;
        while matches!(hb.get(end), Some(b' ' | b'\t')) {
            folded = true;
            end = found.line_end(k, hb, end);
            k += 1;
        }
        if let Err(k) = push_header(&mut msg, &head, pos, end, folded, limits) {
            result = Err(k);
            break;
        }
        pos = end;
    }
    let fail = |msg: Message, kind| ParseError {
        kind,
        partial: Some(Box::new(msg)),
    };
    if let Err(kind) = result {
        return Err(fail(msg, kind));
    }

    // Body (RFC 3261 §18.3).
    let available = data.slice(body_start.min(data.len())..);
    let cl = match msg.headers_named(&HeaderName::ContentLength).count() {
        0 => None,
        1 => match msg.header(&HeaderName::ContentLength).and_then(parse_u32) {
            Some(n) => Some(n),
            None => {
                return Err(fail(
                    msg,
                    K::BadHeader(HeaderError::new("Content-Length", "not a number")),
                ))
            }
        },
        _ => return Err(fail(msg, K::DuplicateHeader("Content-Length"))),
    };
    let body_len = match cl {
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
        None if stream => return Err(fail(msg, K::MissingContentLength)),
        None => available.len(),
    };
    if body_len > limits.max_body_bytes {
        return Err(fail(msg, K::BodyTooLarge));
    }
    if body_len > available.len() {
        return Err(fail(msg, K::BodyTooShort));
    }
    msg.body = available.slice(..body_len);

    if let Err(kind) = check_mandatory(&msg) {
        return Err(fail(msg, kind));
    }
    Ok(msg)
}

/// The cheap checks every message gets while it is read: the mandatory headers of RFC 3261 §8.1.1
/// present (once each, Via at least once) and CSeq matching the method, in one pass.
pub(super) fn check_mandatory(msg: &Message) -> Result<(), ParseErrorKind> {
    use ParseErrorKind as K;
    let (mut via, mut from, mut to, mut call_id, mut cseq) = (0u32, None, None, None, None);
    let once = |slot: &mut Option<usize>, i: usize, label| {
        if slot.replace(i).is_some() {
            Err(K::DuplicateHeader(label))
        } else {
            Ok(())
        }
    };
    for (i, h) in msg.headers.iter().enumerate() {
        match h.name() {
            HeaderName::Via => via += 1,
            HeaderName::From => once(&mut from, i, "From")?,
            HeaderName::To => once(&mut to, i, "To")?,
            HeaderName::CallId => once(&mut call_id, i, "Call-ID")?,
            HeaderName::CSeq => once(&mut cseq, i, "CSeq")?,
            _ => {}
        }
    }
    let value = |i: Option<usize>, label| {
        i.and_then(|i| msg.headers.get(i))
            .map(Header::value)
            .ok_or(K::MissingHeader(label))
    };
    if via == 0 {
        return Err(K::MissingHeader("Via"));
    }
    value(from, "From")?;
    value(to, "To")?;
    let id = value(call_id, "Call-ID")?;
    if id.is_empty() || id.bytes().any(|b| b.is_ascii_whitespace()) {
        return Err(K::BadHeader(HeaderError::new("Call-ID", "bad value")));
    }
    value(cseq, "CSeq")?;
    let cseq = msg
        .parsed_cseq()
        .ok_or(K::MissingHeader("CSeq"))?
        .map_err(K::BadHeader)?;
    if let Some(m) = msg.method() {
        if cseq.method != m.as_str() {
            return Err(K::CSeqMismatch);
        }
    }
    Ok(())
}

/// The offset just past the `\n` ending the line that starts at `from` (or the end of `b`).
pub(super) fn line_end(b: &[u8], from: usize) -> usize {
    b.get(from..)
        .and_then(|rest| memchr::memchr(b'\n', rest))
        .map_or(b.len(), |i| from + i + 1)
}

pub(super) fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

pub(super) fn push_header(
    msg: &mut Message,
    head: &ByteString,
    start: usize,
    end: usize,
    folded: bool,
    limits: &Limits,
) -> Result<(), ParseErrorKind> {
    let hb = head.as_bytes();
    let line = hb.get(start..end).ok_or(ParseErrorKind::BadHeaderLine)?;
    // field-name: a token, then optional white space, then the colon.
    let name_len = line
        .iter()
        .position(|&b| !crate::sip::method::is_token_byte(b))
        .unwrap_or(line.len());
    let mut i = name_len;
    while matches!(line.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    if name_len == 0 || line.get(i) != Some(&b':') {
        return Err(ParseErrorKind::BadHeaderLine);
    }
    // Every offset below sits next to an ASCII byte, so it is a char boundary of `head`.
    let name = head
        .get(start..start + name_len)
        .ok_or(ParseErrorKind::BadHeaderLine)?;
    if line.len() > limits.max_header_bytes {
        return Err(ParseErrorKind::HeaderTooLong(name.to_owned()));
    }
    if msg.headers.len() >= limits.max_headers {
        return Err(ParseErrorKind::TooManyHeaders);
    }
    let mut vs = i + 1;
    let mut ve = line.len();
    while vs < ve && line.get(vs).is_some_and(|&b| is_ws(b)) {
        vs += 1;
    }
    while ve > vs && line.get(ve - 1).is_some_and(|&b| is_ws(b)) {
        ve -= 1;
    }
    let value = head
        .get(start + vs..start + ve)
        .ok_or(ParseErrorKind::BadHeaderLine)?;
    let raw = head.get(start..end).ok_or(ParseErrorKind::BadHeaderLine)?;
    if !folded {
        // The usual line: its value is a span of the raw line, no second handle.
        let name = HeaderName::parse(head, name);
        msg.headers
            .push(Header::received(name, head.slice_ref(raw), vs..ve));
        return Ok(());
    }
    let value = {
        // Replace each line break and the white space around it with one space.
        let mut unfolded = String::with_capacity(value.len());
        for (n, part) in value.split('\n').enumerate() {
            let part = part.trim_end_matches('\r');
            if n == 0 {
                unfolded.push_str(part.trim_end_matches([' ', '\t']));
            } else {
                unfolded.push(' ');
                unfolded.push_str(part.trim_matches([' ', '\t']));
            }
        }
        ByteString::from(unfolded)
    };
    let name = HeaderName::parse(head, name);
    msg.headers
        .push(Header::parsed(name, value, head.slice_ref(raw)));
    Ok(())
}

pub(super) fn parse_start_line(
    head: &ByteString,
    line: &str,
    limits: &Limits,
) -> Result<StartLine, ParseError> {
    use ParseErrorKind as K;
    let err = |k| Err(ParseError::new(k));
    if let Some(rest) = line.strip_prefix("SIP/") {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
        let (version, rest) = split_once_byte(rest, b' ').unwrap_or((rest, ""));
        if !is_version(version) {
            return err(K::BadStartLine("bad SIP version"));
        }
        if version != "2.0" {
            return err(K::VersionNotSupported);
        }
        let (code, reason) = split_once_byte(rest, b' ').unwrap_or((rest, ""));
        let code = match code.parse::<u16>() {
            Ok(c) if (100..=699).contains(&c) && code.len() == 3 => c,
            _ => return err(K::BadStartLine("bad status code")),
        };
        return Ok(StartLine::Response {
            code,
            reason: head.slice_ref(reason),
        });
    }
    // Request-Line = Method SP Request-URI SP SIP-Version
    let Some((method, uri, version)) = request_line_parts(line) else {
        return err(K::BadStartLine(
            "expected Method SP Request-URI SP SIP-Version",
        ));
    };
    let Some(method) = Method::from_slice(head, method) else {
        return err(K::BadStartLine("bad method"));
    };
    let Some(v) = version.strip_prefix("SIP/").filter(|v| is_version(v)) else {
        return err(K::BadStartLine("bad SIP version"));
    };
    if v != "2.0" {
        return err(K::VersionNotSupported);
    }
    if uri.len() > limits.max_uri_bytes {
        return err(K::UriTooLong);
    }
    let Some((scheme, rest)) = uri.split_once(':') else {
        return err(K::BadUri);
    };
    if rest.is_empty() || scheme.is_empty() {
        return err(K::BadUri);
    }
    // Any scheme that is a valid token parses; `check` refuses the ones the SBC does not serve
    // with 416, once the headers a reply needs are parsed (RFC 3261 §8.2.2.1).
    if !scheme
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    {
        return err(K::BadUri);
    }
    Ok(StartLine::Request {
        method,
        uri: head.slice_ref(uri),
    })
}

/// The three parts of a request line split on its exactly two spaces, as
/// `line.split(' ')` yielding exactly three items.
pub(in crate::sip) fn request_line_parts(line: &str) -> Option<(&str, &str, &str)> {
    let (method, rest) = split_once_byte(line, b' ')?;
    let (uri, version) = split_once_byte(rest, b' ')?;
    if find_byte(version, b' ').is_some() {
        return None;
    }
    Some((method, uri, version))
}

pub(super) fn is_version(v: &str) -> bool {
    v.split_once('.').is_some_and(|(a, b)| {
        !a.is_empty()
            && !b.is_empty()
            && a.bytes().all(|c| c.is_ascii_digit())
            && b.bytes().all(|c| c.is_ascii_digit())
    })
}
