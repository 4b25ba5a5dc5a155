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
use super::uri::Uri;
use super::via::Via;
use super::view_cache::{Cached, NameAddrAt, Slot, ViewCache};
use bytes::Bytes;
use bytestring::ByteString;
use std::cell::OnceCell;
use std::fmt;

mod check;
mod parse;
pub use check::check_header;
use check::validate;
use parse::parse;
#[cfg(test)]
pub(super) use {check::has_whitespace, parse::request_line_parts};

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
    /// The top Via, From, To and CSeq as parsed on first read; forgotten when an edit touches
    /// them or moves headers.
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
        // The copied headers, Content-Length and the few a caller adds (Contact, Server, ...).
        rsp.headers.reserve(12);
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
                    .push(Header::new(h.name().clone(), h.value_bytes()));
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
            if let Some(v) = self.views.get_mut() {
                v.forget_uri();
            }
        }
    }

    /// The Request-URI parsed, read from the view cache: `None` for a response or a URI that
    /// does not parse (RFC 3261 §19.1, §25.1). Routing, admission and leg B's request read it
    /// after [`Message::check`] parsed it once.
    pub fn request_uri(&self) -> Option<Uri<'_>> {
        let raw = self.uri()?;
        let find = || {
            Some((
                0,
                Uri::parse(raw).map_err(|_| HeaderError::new("Request-URI", "bad URI")),
            ))
        };
        match ViewCache::read(&self.views().uri, |_| Some(raw), find) {
            Cached::View(v) => Some(v),
            Cached::Bad(_) | Cached::Absent => None,
            Cached::Parse => Uri::parse(raw).ok(),
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

    /// Lets go of spare header slots, for a message kept long after it was built.
    pub fn shrink_to_fit(&mut self) {
        self.headers.shrink_to_fit();
    }

    /// Appends a header after all others.
    pub fn push_header(&mut self, name: HeaderName, value: impl Into<ByteString>) {
        // Nothing moves: only a view of this name can change (from absent to present).
        self.forget_view(&name);
        self.headers.push(Header::new(name, value));
    }

    /// Replaces header `index` in place with `name: value`; returns false if there is no such
    /// header. The headers keep their places, so only the views of the old and new names are
    /// read again.
    pub fn replace_header(
        &mut self,
        index: usize,
        name: HeaderName,
        value: impl Into<ByteString>,
    ) -> bool {
        let Some(slot) = self.headers.get_mut(index) else {
            return false;
        };
        let old = std::mem::replace(slot, Header::new(name, value));
        let new = slot.name().clone();
        self.forget_view(old.name());
        self.forget_view(&new);
        true
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
        match self.headers.iter().position(|h| *h.name() == name) {
            Some(i) => {
                self.forget_view(&name);
                if let Some(slot) = self.headers.get_mut(i) {
                    *slot = Header::new(name.clone(), value);
                }
                let before = self.headers.len();
                let mut n = 0;
                self.headers.retain(|h| {
                    n += 1;
                    n - 1 == i || *h.name() != name
                });
                if self.headers.len() != before {
                    // Later headers moved up: every view's place may have changed.
                    self.clear_views();
                }
            }
            None => self.push_header(name, value),
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
                        push_decimal(out, usize::from(*code));
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
            push_decimal(out, self.body.len());
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
        let mut out = Vec::with_capacity(self.encoded_len());
        self.write_to(&mut out);
        Bytes::from(out)
    }

    /// The length [`Message::write_to`] writes, or a little more (one allocation, no growth).
    pub(super) fn encoded_len(&self) -> usize {
        let start = match (&self.start_raw, &self.start) {
            (Some(raw), _) => raw.len(),
            (None, StartLine::Request { method, uri }) => method.as_str().len() + uri.len() + 11,
            (None, StartLine::Response { reason, .. }) => reason.len() + 15,
        };
        let headers: usize = self.headers.iter().map(Header::encoded_len).sum();
        // Content-Length if it must be added (at most 20 digits), the empty line, the body.
        start + headers + 38 + 2 + self.body.len()
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

    /// Forgets the cached views (an edit that moves headers calls this), keeping their
    /// allocation.
    fn clear_views(&mut self) {
        if let Some(v) = self.views.get_mut() {
            v.clear();
        }
    }

    /// Forgets the cached view of the headers named `name`, if it is one the cache keeps (an
    /// edit that moves no header calls this).
    fn forget_view(&mut self, name: &HeaderName) {
        if let Some(v) = self.views.get_mut() {
            v.forget(name);
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

/// Writes `n` in decimal, without the formatting machinery or a temporary string.
fn push_decimal(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(crate::decimal::decimal(n as u64, &mut Default::default()).as_bytes());
}
