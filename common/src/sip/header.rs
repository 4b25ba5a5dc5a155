//! Header names, compact forms and the header line model (RFC 3261 §7.3, §20).

use super::params::trim_ws;
use bytestring::ByteString;
use std::fmt;

macro_rules! header_names {
    ($( $variant:ident => $canon:literal / $lower:literal $(, compact $compact:literal)? $(, list $list:literal)? ; )*) => {
        /// A header field name: the ones the SBC acts on by name, or any other kept as written
        /// (names compare case-insensitively, RFC 3261 §7.3.1).
        #[derive(Clone)]
        pub enum HeaderName {
            $(
                #[doc = concat!("`", $canon, "`.")]
                $variant,
            )*
            /// Any other header, with its name as written on the wire (boxed: a name is 16
            /// bytes, not 40, in every header of every message kept).
            Other(Box<ByteString>),
        }

        impl HeaderName {
            /// Classifies a header name case-insensitively, expanding compact forms (RFC 3261 §7.3.3).
            pub fn parse(src: &ByteString, name: &str) -> Self {
                if name.len() == 1 {
                    let c = name.as_bytes().first().copied().unwrap_or(0).to_ascii_lowercase();
                    $( $( if c == $compact { return Self::$variant; } )? )*
                }
                // Lower-case into a stack buffer and let the compiler build the match: names longer
                // than any known one are never known.
                let mut buf = [0u8; 24];
                if let Some(dst) = buf.get_mut(..name.len()) {
                    dst.copy_from_slice(name.as_bytes());
                    dst.make_ascii_lowercase();
                    match &*dst {
                        $( $lower => return Self::$variant, )*
                        _ => {}
                    }
                }
                Self::Other(Box::new(src.slice_ref(name)))
            }

            /// Classifies a name given as a plain string (allocates only for unknown names).
            pub fn from_name(name: &str) -> Self {
                let owned = ByteString::from(name);
                Self::parse(&owned, &owned)
            }

            /// The canonical full name (RFC 3261 §20) or, for others, the name as written.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $canon, )*
                    Self::Other(s) => s,
                }
            }

            /// The compact form of the name, if it has one (RFC 3261 §7.3.3, RFC 3515, RFC 4028).
            pub fn compact(&self) -> Option<char> {
                match self {
                    $( $( Self::$variant => Some($compact as char), )? )*
                    _ => None,
                }
            }

            /// Whether the header's value is a comma-separated list that may be split into
            /// several values (RFC 3261 §7.3.1).
            pub fn is_list(&self) -> bool {
                match self {
                    $( $( Self::$variant => $list, )? )*
                    _ => false,
                }
            }
        }
    };
}

header_names! {
    Accept => "Accept" / b"accept", list true;
    AcceptEncoding => "Accept-Encoding" / b"accept-encoding", list true;
    AcceptLanguage => "Accept-Language" / b"accept-language", list true;
    AlertInfo => "Alert-Info" / b"alert-info", list true;
    Allow => "Allow" / b"allow", list true;
    AllowEvents => "Allow-Events" / b"allow-events", compact b'u', list true;
    AuthenticationInfo => "Authentication-Info" / b"authentication-info";
    Authorization => "Authorization" / b"authorization";
    CallId => "Call-ID" / b"call-id", compact b'i';
    CallInfo => "Call-Info" / b"call-info", list true;
    Contact => "Contact" / b"contact", compact b'm', list true;
    ContentDisposition => "Content-Disposition" / b"content-disposition";
    ContentEncoding => "Content-Encoding" / b"content-encoding", compact b'e', list true;
    ContentLanguage => "Content-Language" / b"content-language", list true;
    ContentLength => "Content-Length" / b"content-length", compact b'l';
    ContentType => "Content-Type" / b"content-type", compact b'c';
    CSeq => "CSeq" / b"cseq";
    Date => "Date" / b"date";
    ErrorInfo => "Error-Info" / b"error-info", list true;
    Event => "Event" / b"event", compact b'o';
    Expires => "Expires" / b"expires";
    From => "From" / b"from", compact b'f';
    InReplyTo => "In-Reply-To" / b"in-reply-to", list true;
    MaxForwards => "Max-Forwards" / b"max-forwards";
    MinExpires => "Min-Expires" / b"min-expires";
    MinSe => "Min-SE" / b"min-se";
    MimeVersion => "MIME-Version" / b"mime-version";
    Organization => "Organization" / b"organization";
    Path => "Path" / b"path", list true;
    PAssertedIdentity => "P-Asserted-Identity" / b"p-asserted-identity", list true;
    PPreferredIdentity => "P-Preferred-Identity" / b"p-preferred-identity", list true;
    Priority => "Priority" / b"priority";
    Privacy => "Privacy" / b"privacy";
    ProxyAuthenticate => "Proxy-Authenticate" / b"proxy-authenticate";
    ProxyAuthorization => "Proxy-Authorization" / b"proxy-authorization";
    ProxyRequire => "Proxy-Require" / b"proxy-require", list true;
    RAck => "RAck" / b"rack";
    Reason => "Reason" / b"reason", list true;
    RecordRoute => "Record-Route" / b"record-route", list true;
    ReferTo => "Refer-To" / b"refer-to", compact b'r';
    ReferredBy => "Referred-By" / b"referred-by", compact b'b';
    Replaces => "Replaces" / b"replaces";
    ReplyTo => "Reply-To" / b"reply-to";
    Require => "Require" / b"require", list true;
    RetryAfter => "Retry-After" / b"retry-after";
    Route => "Route" / b"route", list true;
    RSeq => "RSeq" / b"rseq";
    Server => "Server" / b"server";
    SessionExpires => "Session-Expires" / b"session-expires", compact b'x';
    SipETag => "SIP-ETag" / b"sip-etag";
    SipIfMatch => "SIP-If-Match" / b"sip-if-match";
    Subject => "Subject" / b"subject", compact b's';
    SubscriptionState => "Subscription-State" / b"subscription-state";
    Supported => "Supported" / b"supported", compact b'k', list true;
    Timestamp => "Timestamp" / b"timestamp";
    To => "To" / b"to", compact b't';
    Unsupported => "Unsupported" / b"unsupported", list true;
    UserAgent => "User-Agent" / b"user-agent";
    Via => "Via" / b"via", compact b'v', list true;
    Warning => "Warning" / b"warning", list true;
    WwwAuthenticate => "WWW-Authenticate" / b"www-authenticate";
    AcceptContact => "Accept-Contact" / b"accept-contact", compact b'a', list true;
    RejectContact => "Reject-Contact" / b"reject-contact", compact b'j', list true;
    RequestDisposition => "Request-Disposition" / b"request-disposition", compact b'd', list true;
    Identity => "Identity" / b"identity", compact b'y';
}

impl PartialEq for HeaderName {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Other(a), Self::Other(b)) => a.eq_ignore_ascii_case(b),
            (Self::Other(_), _) | (_, Self::Other(_)) => false,
            _ => std::mem::discriminant(self) == std::mem::discriminant(other),
        }
    }
}

impl Eq for HeaderName {}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One header field line: its classified name, its value, and the exact bytes it was received as.
///
/// A header read off the wire keeps its raw line (with its folding and line ending), so an
/// unchanged header serializes byte-identical; a header the SBC writes has none and is written as
/// `Name: value` with CRLF (RFC 3261 §7.3). 64 bytes: the value of a received line is a span of
/// the line, not a second handle.
#[derive(Clone)]
pub struct Header {
    name: HeaderName,
    /// The received line, or the value for a header the SBC wrote or one whose line was folded.
    text: ByteString,
    form: Form,
}

/// How a [`Header`]'s `text` relates to its value and raw line.
#[derive(Clone)]
enum Form {
    /// Written by the SBC: `text` is the value, there is no raw line.
    Written,
    /// Received: `text` is the raw line, the value is `text[start..start + len]`.
    Received { start: u32, len: u32 },
    /// Received with folding (or longer than a span holds): `text` is the unfolded value, the
    /// raw line is kept aside.
    Folded(Box<ByteString>),
}

impl Header {
    /// A new header as the SBC writes it (canonical name, CRLF line end).
    pub fn new(name: HeaderName, value: impl Into<ByteString>) -> Self {
        Self {
            name,
            text: value.into(),
            form: Form::Written,
        }
    }

    /// A received line whose value is `raw[value]` (no folding).
    pub(crate) fn received(
        name: HeaderName,
        raw: ByteString,
        value: std::ops::Range<usize>,
    ) -> Self {
        match (u32::try_from(value.start), u32::try_from(value.len())) {
            (Ok(start), Ok(len)) if value.end <= raw.len() => Self {
                name,
                text: raw,
                form: Form::Received { start, len },
            },
            _ => {
                let v = raw.get(value).map(|v| raw.slice_ref(v)).unwrap_or_default();
                Self::parsed(name, v, raw)
            }
        }
    }

    /// A received line whose value was unfolded into `value` (RFC 3261 §7.3.1), or whose value
    /// span does not fit the compact form: the raw line is kept aside.
    pub(crate) fn parsed(name: HeaderName, value: ByteString, raw: ByteString) -> Self {
        Self {
            name,
            text: value,
            form: Form::Folded(Box::new(raw)),
        }
    }

    /// The header's name.
    pub fn name(&self) -> &HeaderName {
        &self.name
    }

    /// The header's value with surrounding white space removed and any line folding replaced by a
    /// single space (RFC 3261 §7.3.1).
    pub fn value(&self) -> &str {
        match self.form {
            Form::Received { start, len } => self
                .text
                .get(start as usize..start as usize + len as usize)
                .unwrap_or_default(),
            Form::Written | Form::Folded(_) => &self.text,
        }
    }

    /// The value as a shared, zero-copy string.
    pub fn value_bytes(&self) -> ByteString {
        match self.form {
            Form::Received { .. } => self.text.slice_ref(self.value()),
            Form::Written | Form::Folded(_) => self.text.clone(),
        }
    }

    /// The exact line the header was received as, with its line ending, if it came off the wire.
    pub fn raw(&self) -> Option<&str> {
        match &self.form {
            Form::Written => None,
            Form::Received { .. } => Some(&self.text),
            Form::Folded(raw) => Some(raw),
        }
    }

    /// The length [`Header::write_to`] writes.
    pub fn encoded_len(&self) -> usize {
        match self.raw() {
            Some(raw) => raw.len(),
            None => self.name.as_str().len() + self.text.len() + 4,
        }
    }

    /// Writes the header line, byte-identical to the received one if it was not changed.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match self.raw() {
            Some(raw) => out.extend_from_slice(raw.as_bytes()),
            None => {
                out.extend_from_slice(self.name.as_str().as_bytes());
                out.extend_from_slice(b": ");
                out.extend_from_slice(self.text.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
        }
    }

    /// Iterates over the comma-separated values of a list header, or yields the single value.
    pub fn values(&self) -> ListIter<'_> {
        if self.name.is_list() {
            split_list(self.value())
        } else {
            ListIter::single(self.value())
        }
    }
}

impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name {
            HeaderName::Authorization | HeaderName::ProxyAuthorization => {
                write!(f, "{}: <redacted>", self.name)
            }
            _ => write!(f, "{}: {}", self.name, self.value()),
        }
    }
}

/// An iterator over the elements of a comma-separated header value, never splitting inside a
/// quoted string or `<…>` (RFC 3261 §7.3.1).
#[derive(Clone, Debug)]
pub struct ListIter<'a> {
    rest: Option<&'a str>,
    split: bool,
}

impl<'a> ListIter<'a> {
    fn single(s: &'a str) -> Self {
        Self {
            rest: Some(s),
            split: false,
        }
    }
}

/// Splits a header value on the commas that separate list elements (RFC 3261 §7.3.1).
pub fn split_list(s: &str) -> ListIter<'_> {
    ListIter {
        rest: Some(s),
        split: true,
    }
}

impl<'a> Iterator for ListIter<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        loop {
            let rest = self.rest.take()?;
            if !self.split {
                let v = trim_ws(rest);
                return if v.is_empty() { None } else { Some(v) };
            }
            let cut = find_list_comma(rest);
            let (item, tail) = match cut {
                Some(i) => (rest.get(..i).unwrap_or(""), rest.get(i + 1..)),
                None => (rest, None),
            };
            self.rest = tail;
            let item = trim_ws(item);
            if !item.is_empty() {
                return Some(item);
            }
            self.rest?;
        }
    }
}

/// The byte offset of the first comma in `s` that is outside quotes and angle brackets.
///
/// A quoted string starts at any `"` outside a quoted string, inside `<…>` too; `\\` escapes the
/// next byte inside one. Jumps between the bytes that matter with `memchr`: this runs on every list
/// header read.
fn find_list_comma(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut in_angle = false;
    loop {
        let rest = b.get(i..)?;
        let at = i + if in_angle {
            memchr::memchr2(b'"', b'>', rest)?
        } else {
            memchr::memchr3(b',', b'"', b'<', rest)?
        };
        match b.get(at) {
            Some(b',') => return Some(at),
            Some(b'<') => in_angle = true,
            Some(b'>') => in_angle = false,
            _ => {
                // A quoted string: continue after its closing quote.
                i = quoted_tail(b, at + 1)?;
                continue;
            }
        }
        i = at + 1;
    }
}

/// The offset just past the `"` closing a quoted string whose text starts at `from`, skipping
/// `\\`-escaped bytes; `None` if it is not closed.
fn quoted_tail(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    loop {
        let at = i + memchr::memchr2(b'"', b'\\', b.get(i..)?)?;
        if b.get(at) == Some(&b'"') {
            return Some(at + 1);
        }
        i = at + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> HeaderName {
        HeaderName::from_name(s)
    }

    #[test]
    fn names_are_case_insensitive_and_compact_forms_expand() {
        assert_eq!(name("via"), HeaderName::Via);
        assert_eq!(name("VIA"), HeaderName::Via);
        assert_eq!(name("v"), HeaderName::Via);
        assert_eq!(name("V"), HeaderName::Via);
        assert_eq!(name("call-id"), HeaderName::CallId);
        let pairs = [
            ("i", HeaderName::CallId),
            ("m", HeaderName::Contact),
            ("f", HeaderName::From),
            ("t", HeaderName::To),
            ("v", HeaderName::Via),
            ("l", HeaderName::ContentLength),
            ("c", HeaderName::ContentType),
            ("e", HeaderName::ContentEncoding),
            ("k", HeaderName::Supported),
            ("s", HeaderName::Subject),
            ("o", HeaderName::Event),
            ("u", HeaderName::AllowEvents),
            ("r", HeaderName::ReferTo),
            ("b", HeaderName::ReferredBy),
            ("x", HeaderName::SessionExpires),
            ("y", HeaderName::Identity),
        ];
        for (c, n) in pairs {
            assert_eq!(name(c), n, "compact {c}");
            assert_eq!(n.compact().map(String::from), Some(c.to_string()));
        }
        assert_eq!(name("X-Custom"), name("x-custom"));
        assert_ne!(name("X-Custom"), HeaderName::Via);
        assert_eq!(name("x-custom").as_str(), "x-custom");
        assert_eq!(name("z"), HeaderName::Other(Box::new("z".into())));
    }

    #[test]
    fn list_split_respects_quotes_and_brackets() {
        let v: Vec<_> = split_list(
            r#""Doe, John" <sip:j@a.com;x=1,2>;q=0.5 , <sip:b@b.com>,sip:c@c.com , "a\",b" <sip:d@d>"#,
        )
        .collect();
        assert_eq!(
            v,
            vec![
                r#""Doe, John" <sip:j@a.com;x=1,2>;q=0.5"#,
                "<sip:b@b.com>",
                "sip:c@c.com",
                r#""a\",b" <sip:d@d>"#
            ]
        );
        assert_eq!(
            split_list(" , ,a,, b ,").collect::<Vec<_>>(),
            vec!["a", "b"]
        );
        assert_eq!(split_list("").count(), 0);
        // Unbalanced quote: the rest is one element, no panic.
        assert_eq!(
            split_list(r#"a, "b, c"#).collect::<Vec<_>>(),
            vec!["a", r#""b, c"#]
        );
    }

    #[test]
    fn received_lines_keep_their_bytes_and_values_in_64_bytes() {
        use crate::sip::{Limits, Message};
        let wire = "OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\
                    From: <sip:b@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\n\
                    Call-ID: c1\r\nCSeq: 1 OPTIONS\r\nSubject :  folded\r\n  over two lines \r\nX-Custom:\tkept  \r\n\
                    Content-Length: 0\r\n\r\n";
        let msg = Message::parse(bytes::Bytes::from(wire), &Limits::default()).unwrap();
        let h = msg.headers();
        assert_eq!(h[0].value(), "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1");
        assert_eq!(
            h[0].raw(),
            Some("Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n")
        );
        assert_eq!(&*h[0].value_bytes(), h[0].value());
        // A folded line: the value is unfolded, the raw line kept as it came.
        assert_eq!(h[5].value(), "folded over two lines");
        assert_eq!(
            h[5].raw(),
            Some("Subject :  folded\r\n  over two lines \r\n")
        );
        assert_eq!(h[6].name().as_str(), "X-Custom");
        assert_eq!(h[6].value(), "kept");
        // Unchanged, the message goes out byte for byte.
        assert_eq!(&msg.to_bytes()[..], wire.as_bytes());
        // Written headers have no raw line.
        let w = Header::new(HeaderName::from_name("X-Other"), "v");
        assert_eq!((w.value(), w.raw()), ("v", None));
        let mut out = Vec::new();
        w.write_to(&mut out);
        assert_eq!(out, b"X-Other: v\r\n");
        assert!(size_of::<Header>() <= 64, "{}", size_of::<Header>());
    }

    #[test]
    fn non_list_headers_are_not_split() {
        let h = Header::new(HeaderName::Date, "Sat, 13 Nov 2010 23:29:00 GMT");
        assert_eq!(h.values().count(), 1);
        let h = Header::new(
            HeaderName::Via,
            "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b",
        );
        assert_eq!(h.values().count(), 2);
    }

    /// The byte-at-a-time scan `find_list_comma` replaced, kept as the reference.
    fn reference_list_comma(s: &str) -> Option<usize> {
        let (mut in_quotes, mut in_angle, mut escaped) = (false, false, false);
        for (i, b) in s.bytes().enumerate() {
            if in_quotes {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_quotes = false;
                }
                continue;
            }
            match b {
                b'"' => in_quotes = true,
                b'<' => in_angle = true,
                b'>' => in_angle = false,
                b',' if !in_angle => return Some(i),
                _ => {}
            }
        }
        None
    }

    proptest::proptest! {
        #[test]
        fn list_comma_matches_the_byte_scan(s in "[,\"<>\\\\a ;]{0,24}") {
            proptest::prop_assert_eq!(find_list_comma(&s), reference_list_comma(&s));
        }
    }

    #[test]
    fn debug_redacts_credentials() {
        let h = Header::new(HeaderName::Authorization, r#"Digest response="secret""#);
        assert!(!format!("{h:?}").contains("secret"));
    }
}
