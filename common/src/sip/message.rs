//! The SIP message: start line, ordered headers and body, parsed without copying header text
//! (RFC 3261 §7).

use super::error::{ParseError, ParseErrorKind};
use super::fields::{
    parse_delta_seconds, parse_u32, CSeq, HeaderError, RAck, Replaces, SessionExpires,
    SubscriptionState, TokenParams,
};
use super::header::{split_list, Header, HeaderName};
use super::method::Method;
use super::name_addr::{Contact, NameAddr};
use super::params::{find_byte, split_once_byte};
use super::status::reason_phrase;
use super::via::Via;
use super::view_cache::{Cached, NameAddrAt, Slot, ViewCache};
use bytes::Bytes;
use bytestring::ByteString;
use std::cell::OnceCell;
use std::fmt;

/// Size limits applied while parsing, from configuration (`[sip]` section).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest whole message accepted, in bytes (answered with 513).
    pub max_message_bytes: usize,
    /// Largest body accepted, in bytes (answered with 413).
    pub max_body_bytes: usize,
    /// Most header fields accepted (answered with 400).
    pub max_headers: usize,
    /// Longest header field line accepted, in bytes (answered with 400).
    pub max_header_bytes: usize,
    /// Longest Request-URI accepted, in bytes (answered with 414).
    pub max_uri_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: 65_535,
            max_body_bytes: 65_535,
            max_headers: 128,
            max_header_bytes: 8192,
            max_uri_bytes: 4096,
        }
    }
}

/// The first line of a message (RFC 3261 §7.1, §7.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartLine {
    /// `Method Request-URI SIP/2.0`.
    Request {
        /// The method.
        method: Method,
        /// The Request-URI as written.
        uri: ByteString,
    },
    /// `SIP/2.0 Status-Code Reason-Phrase`.
    Response {
        /// The status code, 100..=699.
        code: u16,
        /// The reason phrase as written.
        reason: ByteString,
    },
}

/// A SIP request or response (RFC 3261 §7).
///
/// Headers keep their order and, when they came off the wire, their exact bytes; the typed
/// accessors parse the header text on demand and borrow from it, allocating nothing.
#[derive(Clone)]
pub struct Message {
    start: StartLine,
    start_raw: Option<ByteString>,
    headers: Vec<Header>,
    separator_raw: Option<ByteString>,
    body: Bytes,
    /// The top Via, From, To and CSeq as parsed on first read; cleared by every header edit.
    /// Boxed on first use so that a message stays small to move.
    views: OnceCell<Box<ViewCache>>,
}

impl Message {
    /// A new request with no headers and no body.
    pub fn request(method: Method, uri: impl Into<ByteString>) -> Self {
        Self::with_start(StartLine::Request {
            method,
            uri: uri.into(),
        })
    }

    /// A new response with no headers and no body; an empty reason takes the default phrase.
    pub fn response(code: u16, reason: &str) -> Self {
        let reason = if reason.is_empty() {
            reason_phrase(code)
        } else {
            reason
        };
        Self::with_start(StartLine::Response {
            code,
            reason: ByteString::from(reason),
        })
    }

    /// A response to `req` that copies its Via headers, From, To, Call-ID and CSeq in order
    /// (RFC 3261 §8.2.6.2), with an empty body.
    pub fn response_to(req: &Self, code: u16, reason: &str) -> Self {
        let mut rsp = Self::response(code, reason);
        for h in &req.headers {
            if matches!(
                h.name(),
                HeaderName::Via
                    | HeaderName::From
                    | HeaderName::To
                    | HeaderName::CallId
                    | HeaderName::CSeq
            ) {
                rsp.headers
                    .push(Header::new(h.name().clone(), h.value_bytes().clone()));
            }
        }
        rsp.set_body(Bytes::new(), None);
        rsp
    }

    fn with_start(start: StartLine) -> Self {
        Self {
            start,
            start_raw: None,
            headers: Vec::new(),
            separator_raw: None,
            body: Bytes::new(),
            views: OnceCell::new(),
        }
    }

    /// Parses one message from a datagram (RFC 3261 §7, §18.3): a missing Content-Length means the
    /// body runs to the end; bytes past Content-Length are discarded.
    pub fn parse(data: Bytes, limits: &Limits) -> Result<Self, ParseError> {
        parse(data, limits, false)
    }

    /// Parses a datagram and runs [`Message::check`]: what the SBC does with every message it
    /// receives.
    pub fn parse_checked(data: Bytes, limits: &Limits) -> Result<Self, ParseError> {
        Self::parse(data, limits)?.checked()
    }

    /// Runs [`Message::check`], turning a failure into a [`ParseError`] that can build the reply.
    pub fn checked(self) -> Result<Self, ParseError> {
        match self.check() {
            Ok(()) => Ok(self),
            Err(kind) => Err(ParseError {
                kind,
                partial: Some(Box::new(self)),
            }),
        }
    }

    /// The typed checks beyond what [`Message::parse`] does: the Request-URI, every Via, From, To,
    /// Max-Forwards, Expires and a request's Contacts must parse (RFC 3261 §8.2, §16.3).
    ///
    /// `parse` alone is the codec (framing, start line, header lines, body, mandatory headers
    /// present, CSeq matching the method); `check` is what a transaction layer adds before acting.
    pub fn check(&self) -> Result<(), ParseErrorKind> {
        validate(self)
    }

    /// Parses one message cut from a stream, where Content-Length is mandatory (RFC 3261 §18.3).
    pub fn parse_stream(data: Bytes, limits: &Limits) -> Result<Self, ParseError> {
        parse(data, limits, true)
    }

    /// The start line.
    pub fn start_line(&self) -> &StartLine {
        &self.start
    }

    /// Whether this is a request.
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// The request method, or `None` for a response.
    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The Request-URI, or `None` for a response.
    pub fn uri(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    /// The status code, or `None` for a request.
    pub fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response { code, .. } => Some(*code),
            StartLine::Request { .. } => None,
        }
    }

    /// The reason phrase, or `None` for a request.
    pub fn reason(&self) -> Option<&str> {
        match &self.start {
            StartLine::Response { reason, .. } => Some(reason),
            StartLine::Request { .. } => None,
        }
    }

    /// Replaces the Request-URI (a no-op on responses).
    pub fn set_uri(&mut self, new: impl Into<ByteString>) {
        if let StartLine::Request { uri, .. } = &mut self.start {
            *uri = new.into();
            self.start_raw = None;
        }
    }

    /// Replaces the method of a request (a no-op on responses).
    pub fn set_method(&mut self, new: Method) {
        if let StartLine::Request { method, .. } = &mut self.start {
            *method = new;
            self.start_raw = None;
        }
    }

    /// Replaces the status code and reason of a response (a no-op on requests).
    pub fn set_status(&mut self, new_code: u16, new_reason: &str) {
        if let StartLine::Response { code, reason } = &mut self.start {
            *code = new_code;
            *reason = ByteString::from(if new_reason.is_empty() {
                reason_phrase(new_code)
            } else {
                new_reason
            });
            self.start_raw = None;
        }
    }

    /// All header fields in order.
    pub fn headers(&self) -> &[Header] {
        &self.headers
    }

    /// The header fields with this name, in order.
    pub fn headers_named<'s>(
        &'s self,
        name: &'s HeaderName,
    ) -> impl Iterator<Item = &'s Header> + 's {
        self.headers.iter().filter(move |h| h.name() == name)
    }

    /// The value of the first header with this name.
    pub fn header(&self, name: &HeaderName) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name() == name)
            .map(Header::value)
    }

    /// Every value of a header across all its lines, split on commas for list headers
    /// (RFC 3261 §7.3.1).
    pub fn values<'s>(&'s self, name: &'s HeaderName) -> impl Iterator<Item = &'s str> + 's {
        self.headers_named(name).flat_map(Header::values)
    }

    /// Whether a header with this name is present.
    pub fn has(&self, name: &HeaderName) -> bool {
        self.headers.iter().any(|h| h.name() == name)
    }

    /// Appends a header after all others.
    pub fn push_header(&mut self, name: HeaderName, value: impl Into<ByteString>) {
        self.clear_views();
        self.headers.push(Header::new(name, value));
    }

    /// Inserts a header at position `index` (clamped to the end); index 0 puts it first, as a new
    /// top Via must be.
    pub fn insert_header(&mut self, index: usize, name: HeaderName, value: impl Into<ByteString>) {
        let index = index.min(self.headers.len());
        self.clear_views();
        self.headers.insert(index, Header::new(name, value));
    }

    /// Replaces the first header with this name in place and removes the others, or appends one.
    pub fn set_header(&mut self, name: HeaderName, value: impl Into<ByteString>) {
        let value = value.into();
        self.clear_views();
        match self.headers.iter().position(|h| *h.name() == name) {
            Some(i) => {
                if let Some(slot) = self.headers.get_mut(i) {
                    *slot = Header::new(name.clone(), value);
                }
                let mut n = 0;
                self.headers.retain(|h| {
                    n += 1;
                    n - 1 == i || *h.name() != name
                });
            }
            None => self.headers.push(Header::new(name, value)),
        }
    }

    /// Removes every header with this name and returns how many there were.
    pub fn remove_headers(&mut self, name: &HeaderName) -> usize {
        let before = self.headers.len();
        self.clear_views();
        self.headers.retain(|h| h.name() != name);
        before - self.headers.len()
    }

    /// Removes the first header with this name and returns it.
    pub fn remove_first(&mut self, name: &HeaderName) -> Option<Header> {
        let i = self.headers.iter().position(|h| h.name() == name)?;
        self.clear_views();
        Some(self.headers.remove(i))
    }

    /// Keeps only the headers for which `keep` returns true.
    pub fn retain_headers(&mut self, keep: impl FnMut(&Header) -> bool) {
        self.clear_views();
        self.headers.retain(keep);
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Replaces the body, rewriting Content-Length and, when given, Content-Type.
    pub fn set_body(&mut self, body: Bytes, content_type: Option<&str>) {
        let len = body.len().to_string();
        self.body = body;
        if let Some(ct) = content_type {
            self.set_header(HeaderName::ContentType, ct.to_owned());
        } else if self.body.is_empty() {
            self.remove_headers(&HeaderName::ContentType);
        }
        self.set_header(HeaderName::ContentLength, len);
    }

    /// Writes the message; an unchanged parsed message is written byte-identical, except that a
    /// message without Content-Length gets one, since every message on a stream needs it and a
    /// sender should always include it (RFC 3261 §18.3, §20.14).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match &self.start_raw {
            Some(raw) => out.extend_from_slice(raw.as_bytes()),
            None => {
                match &self.start {
                    StartLine::Request { method, uri } => {
                        out.extend_from_slice(method.as_str().as_bytes());
                        out.push(b' ');
                        out.extend_from_slice(uri.as_bytes());
                        out.extend_from_slice(b" SIP/2.0");
                    }
                    StartLine::Response { code, reason } => {
                        out.extend_from_slice(b"SIP/2.0 ");
                        out.extend_from_slice(code.to_string().as_bytes());
                        out.push(b' ');
                        out.extend_from_slice(reason.as_bytes());
                    }
                }
                out.extend_from_slice(b"\r\n");
            }
        }
        let mut framed = false;
        for h in &self.headers {
            framed |= *h.name() == HeaderName::ContentLength;
            h.write_to(out);
        }
        if !framed {
            out.extend_from_slice(b"Content-Length: ");
            out.extend_from_slice(self.body.len().to_string().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        match &self.separator_raw {
            Some(raw) => out.extend_from_slice(raw.as_bytes()),
            None => out.extend_from_slice(b"\r\n"),
        }
        out.extend_from_slice(&self.body);
    }

    /// The message as bytes.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = Vec::with_capacity(512 + self.body.len());
        self.write_to(&mut out);
        Bytes::from(out)
    }

    // ---- typed views (RFC 3261 §20) ----

    /// The topmost Via (RFC 3261 §20.42).
    pub fn via(&self) -> Option<Via<'_>> {
        self.top_via().and_then(Result::ok)
    }

    /// Every Via value, top first.
    pub fn vias(&self) -> impl Iterator<Item = Result<Via<'_>, HeaderError>> {
        self.values(&HeaderName::Via)
            .enumerate()
            .map(|(n, v)| match n {
                0 => self.top_via().unwrap_or_else(|| Via::parse(v)),
                _ => Via::parse(v),
            })
    }

    /// The view cache, allocated on first use.
    fn views(&self) -> &ViewCache {
        self.views.get_or_init(Box::default)
    }

    /// Forgets the cached views (every header edit calls this), keeping their allocation.
    fn clear_views(&mut self) {
        if let Some(v) = self.views.get_mut() {
            v.clear();
        }
    }

    /// The value of header `i`.
    fn value_at(&self, i: usize) -> Option<&str> {
        self.headers.get(i).map(Header::value)
    }

    /// The topmost Via value parsed, read from the view cache: `None` without a Via.
    fn top_via(&self) -> Option<Result<Via<'_>, HeaderError>> {
        let find = || {
            self.headers
                .iter()
                .enumerate()
                .filter(|(_, h)| *h.name() == HeaderName::Via)
                .find_map(|(i, h)| h.values().next().map(|v| (i, Via::parse(v))))
        };
        match ViewCache::read(&self.views().via, |i| self.value_at(i), find) {
            Cached::View(v) => Some(Ok(v)),
            Cached::Bad(e) => Some(Err(e)),
            Cached::Absent => None,
            Cached::Parse => find().map(|(_, r)| r),
        }
    }

    /// The first header named `name` parsed as a name-addr, read from the view cache `slot`.
    fn name_addr(
        &self,
        slot: &OnceCell<Slot<NameAddrAt>>,
        name: HeaderName,
        label: &'static str,
    ) -> Option<Result<NameAddr<'_>, HeaderError>> {
        let find = || {
            let i = self.headers.iter().position(|h| *h.name() == name)?;
            let v = self.value_at(i)?;
            Some((i, NameAddr::parse_named(v, label)))
        };
        match ViewCache::read(slot, |i| self.value_at(i), find) {
            Cached::View(v) => Some(Ok(v)),
            Cached::Bad(e) => Some(Err(e)),
            Cached::Absent => None,
            Cached::Parse => find().map(|(_, r)| r),
        }
    }

    /// The From header parsed, or why it does not parse: `None` without a From.
    fn parsed_from(&self) -> Option<Result<NameAddr<'_>, HeaderError>> {
        self.name_addr(&self.views().from, HeaderName::From, "From")
    }

    /// The To header parsed, or why it does not parse: `None` without a To.
    fn parsed_to(&self) -> Option<Result<NameAddr<'_>, HeaderError>> {
        self.name_addr(&self.views().to, HeaderName::To, "To")
    }

    /// The CSeq header parsed, or why it does not parse: `None` without a CSeq.
    fn parsed_cseq(&self) -> Option<Result<CSeq<'_>, HeaderError>> {
        let find = || {
            let i = self
                .headers
                .iter()
                .position(|h| *h.name() == HeaderName::CSeq)?;
            let v = self.value_at(i)?;
            Some((i, CSeq::parse(v)))
        };
        match ViewCache::read(&self.views().cseq, |i| self.value_at(i), find) {
            Cached::View(v) => Some(Ok(v)),
            Cached::Bad(e) => Some(Err(e)),
            Cached::Absent => None,
            Cached::Parse => find().map(|(_, r)| r),
        }
    }

    /// The From header (RFC 3261 §20.20).
    pub fn from(&self) -> Option<NameAddr<'_>> {
        self.parsed_from().and_then(Result::ok)
    }

    /// The To header (RFC 3261 §20.39).
    pub fn to(&self) -> Option<NameAddr<'_>> {
        self.parsed_to().and_then(Result::ok)
    }

    /// The Call-ID (RFC 3261 §20.8).
    pub fn call_id(&self) -> Option<&str> {
        self.header(&HeaderName::CallId)
    }

    /// The CSeq (RFC 3261 §20.16).
    pub fn cseq(&self) -> Option<CSeq<'_>> {
        self.parsed_cseq().and_then(Result::ok)
    }

    /// Max-Forwards (RFC 3261 §20.22).
    pub fn max_forwards(&self) -> Option<u32> {
        self.header(&HeaderName::MaxForwards).and_then(parse_u32)
    }

    /// Content-Length (RFC 3261 §20.14).
    pub fn content_length(&self) -> Option<u32> {
        self.header(&HeaderName::ContentLength).and_then(parse_u32)
    }

    /// Content-Type's media type without parameters, e.g. `application/sdp` (RFC 3261 §20.15).
    pub fn content_type(&self) -> Option<&str> {
        self.header(&HeaderName::ContentType)
            .and_then(|v| TokenParams::parse(v, "Content-Type").ok())
            .map(|t| t.value)
    }

    /// Whether the body is SDP (RFC 3264).
    pub fn has_sdp(&self) -> bool {
        !self.body.is_empty()
            && self
                .content_type()
                .is_some_and(|t| t.eq_ignore_ascii_case("application/sdp"))
    }

    /// The Expires header in seconds (RFC 3261 §20.19).
    pub fn expires(&self) -> Option<u32> {
        self.header(&HeaderName::Expires)
            .and_then(parse_delta_seconds)
    }

    /// The Min-Expires header in seconds (RFC 3261 §20.23).
    pub fn min_expires(&self) -> Option<u32> {
        self.header(&HeaderName::MinExpires)
            .and_then(parse_delta_seconds)
    }

    /// Every Contact element (RFC 3261 §20.10).
    pub fn contacts(&self) -> impl Iterator<Item = Result<Contact<'_>, HeaderError>> {
        self.values(&HeaderName::Contact).map(Contact::parse)
    }

    /// Every Route element, first first (RFC 3261 §20.34).
    pub fn routes(&self) -> impl Iterator<Item = Result<NameAddr<'_>, HeaderError>> {
        self.values(&HeaderName::Route)
            .map(|v| NameAddr::parse_named(v, "Route"))
    }

    /// Every Record-Route element, top first (RFC 3261 §20.30).
    pub fn record_routes(&self) -> impl Iterator<Item = Result<NameAddr<'_>, HeaderError>> {
        self.values(&HeaderName::RecordRoute)
            .map(|v| NameAddr::parse_named(v, "Record-Route"))
    }

    /// The option tags or tokens of a token-list header such as Supported, Require, Proxy-Require,
    /// Unsupported or Allow (RFC 3261 §20.37, §20.32, §20.29, §20.40, §20.5).
    pub fn tokens<'s>(&'s self, name: &'s HeaderName) -> impl Iterator<Item = &'s str> + 's {
        self.values(name)
    }

    /// Whether a token-list header contains `tag` (case-insensitive), e.g. `100rel` in Require.
    pub fn has_token(&self, name: &HeaderName, tag: &str) -> bool {
        self.tokens(name).any(|t| t.eq_ignore_ascii_case(tag))
    }

    /// RSeq (RFC 3262 §7.1).
    pub fn rseq(&self) -> Option<u32> {
        self.header(&HeaderName::RSeq).and_then(parse_u32)
    }

    /// RAck (RFC 3262 §7.2).
    pub fn rack(&self) -> Option<RAck<'_>> {
        self.header(&HeaderName::RAck)
            .and_then(|v| RAck::parse(v).ok())
    }

    /// Event package and parameters (RFC 6665 §8.2.1).
    pub fn event(&self) -> Option<TokenParams<'_>> {
        self.header(&HeaderName::Event)
            .and_then(|v| TokenParams::parse(v, "Event").ok())
    }

    /// Subscription-State (RFC 6665 §8.2.3).
    pub fn subscription_state(&self) -> Option<SubscriptionState<'_>> {
        self.header(&HeaderName::SubscriptionState)
            .and_then(|v| SubscriptionState::parse(v).ok())
    }

    /// Refer-To (RFC 3515 §2.1).
    pub fn refer_to(&self) -> Option<NameAddr<'_>> {
        self.header(&HeaderName::ReferTo)
            .and_then(|v| NameAddr::parse_named(v, "Refer-To").ok())
    }

    /// Referred-By (RFC 3892 §3).
    pub fn referred_by(&self) -> Option<NameAddr<'_>> {
        self.header(&HeaderName::ReferredBy)
            .and_then(|v| NameAddr::parse_named(v, "Referred-By").ok())
    }

    /// Replaces (RFC 3891 §6.1).
    pub fn replaces(&self) -> Option<Replaces<'_>> {
        self.header(&HeaderName::Replaces)
            .and_then(|v| Replaces::parse(v).ok())
    }

    /// Session-Expires (RFC 4028 §4).
    pub fn session_expires(&self) -> Option<SessionExpires> {
        self.header(&HeaderName::SessionExpires)
            .and_then(|v| SessionExpires::parse(v).ok())
    }

    /// Min-SE in seconds (RFC 4028 §5).
    pub fn min_se(&self) -> Option<u32> {
        self.header(&HeaderName::MinSe)
            .and_then(|v| TokenParams::parse(v, "Min-SE").ok())
            .and_then(|t| parse_u32(t.value))
    }

    /// User-Agent (RFC 3261 §20.41).
    pub fn user_agent(&self) -> Option<&str> {
        self.header(&HeaderName::UserAgent)
    }

    /// Server (RFC 3261 §20.35).
    pub fn server(&self) -> Option<&str> {
        self.header(&HeaderName::Server)
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("start", &self.start)
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl PartialEq for Message {
    /// Two messages are equal when they have the same start line, the same header names and values
    /// in the same order, and the same body (raw spellings may differ).
    fn eq(&self, other: &Self) -> bool {
        self.start == other.start
            && self.body == other.body
            && self.headers.len() == other.headers.len()
            && self
                .headers
                .iter()
                .zip(&other.headers)
                .all(|(a, b)| a.name() == b.name() && a.value() == b.value())
    }
}

// ---- the parser ----

/// One line of the head: its text without the line ending, and the full raw slice with it.
struct Line<'a> {
    text: &'a str,
    raw: &'a str,
}

/// Splits `head` (which ends with the last line's terminator) into lines on LF, trimming one CR.
fn lines(head: &str) -> impl Iterator<Item = Line<'_>> {
    head.split_inclusive('\n').map(|raw| {
        let text = raw.strip_suffix('\n').unwrap_or(raw);
        let text = text.strip_suffix('\r').unwrap_or(text);
        Line { text, raw }
    })
}

/// Finds where the header section ends: returns (end of last header line incl. its terminator,
/// start of body).
fn find_head_end(data: &[u8]) -> Option<(usize, usize)> {
    for nl in memchr::memchr_iter(b'\n', data) {
        let after = nl + 1;
        match data.get(after) {
            Some(b'\n') => return Some((after, after + 1)),
            Some(b'\r') if data.get(after + 1) == Some(&b'\n') => return Some((after, after + 2)),
            _ => {}
        }
    }
    None
}

fn parse(data: Bytes, limits: &Limits, stream: bool) -> Result<Message, ParseError> {
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
    let (head_end, body_start) =
        find_head_end(&data).ok_or_else(|| ParseError::new(K::Incomplete))?;
    let head =
        ByteString::try_from(data.slice(..head_end)).map_err(|_| ParseError::new(K::NotUtf8))?;
    let separator = data
        .get(head_end..body_start)
        .and_then(|s| std::str::from_utf8(s).ok())
        .unwrap_or("\r\n");
    let separator = ByteString::from(separator);

    let mut it = lines(&head);
    let first = it.next().ok_or_else(|| ParseError::new(K::Incomplete))?;
    let start = parse_start_line(&head, first.text, limits)?;
    let mut msg = Message {
        start,
        start_raw: Some(head.slice_ref(first.raw)),
        headers: Vec::new(),
        separator_raw: Some(separator),
        body: Bytes::new(),
        views: OnceCell::new(),
    };

    // Header lines, joining folded continuation lines (RFC 3261 §7.3.1).
    msg.headers.reserve(16);
    let hb = head.as_bytes();
    let mut pos = first.raw.len();
    let mut result = Ok(());
    while pos < hb.len() {
        if matches!(hb.get(pos), Some(b' ' | b'\t')) {
            result = Err(K::BadHeaderLine);
            break;
        }
        let mut end = line_end(hb, pos);
        let mut folded = false;
        while matches!(hb.get(end), Some(b' ' | b'\t')) {
            folded = true;
            end = line_end(hb, end);
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
fn check_mandatory(msg: &Message) -> Result<(), ParseErrorKind> {
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
fn line_end(b: &[u8], from: usize) -> usize {
    b.get(from..)
        .and_then(|rest| memchr::memchr(b'\n', rest))
        .map_or(b.len(), |i| from + i + 1)
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn push_header(
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
        .position(|&b| !super::method::is_token_byte(b))
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
    let value = if folded {
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
    } else {
        head.slice_ref(value)
    };
    let raw = head.get(start..end).ok_or(ParseErrorKind::BadHeaderLine)?;
    let name = HeaderName::parse(head, name);
    msg.headers
        .push(Header::parsed(name, value, head.slice_ref(raw)));
    Ok(())
}

fn parse_start_line(
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
pub(super) fn request_line_parts(line: &str) -> Option<(&str, &str, &str)> {
    let (method, rest) = split_once_byte(line, b' ')?;
    let (uri, version) = split_once_byte(rest, b' ')?;
    if find_byte(version, b' ').is_some() {
        return None;
    }
    Some((method, uri, version))
}

fn is_version(v: &str) -> bool {
    v.split_once('.').is_some_and(|(a, b)| {
        !a.is_empty()
            && !b.is_empty()
            && a.bytes().all(|c| c.is_ascii_digit())
            && b.bytes().all(|c| c.is_ascii_digit())
    })
}

/// The typed checks a message must pass before the SBC acts on it (RFC 3261 §8.1.1, §8.2).
fn validate(msg: &Message) -> Result<(), ParseErrorKind> {
    use ParseErrorKind as K;
    if let Some(uri) = msg.uri() {
        let scheme = uri.split_once(':').map_or("", |(s, _)| s);
        if !["sip", "sips", "tel"]
            .iter()
            .any(|s| scheme.eq_ignore_ascii_case(s))
        {
            return Err(K::UnsupportedScheme);
        }
        if super::uri::Uri::parse(uri).is_err() {
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
pub(super) fn has_whitespace(s: &str) -> bool {
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
