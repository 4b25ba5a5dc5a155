//! Parse errors and the response each one maps to (RFC 3261 §21.4, §8.2).

use super::fields::HeaderError;
use super::message::Message;
use thiserror::Error;

/// Why a SIP message could not be read.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The message is larger than the configured limit.
    #[error("Message Too Large")]
    MessageTooLarge,
    /// The body is larger than the configured limit.
    #[error("Request Entity Too Large")]
    BodyTooLarge,
    /// More header fields than the configured limit.
    #[error("Too Many Headers")]
    TooManyHeaders,
    /// One header field line is longer than the configured limit.
    #[error("Header Too Long: {0}")]
    HeaderTooLong(String),
    /// The Request-URI is longer than the configured limit.
    #[error("Request-URI Too Long")]
    UriTooLong,
    /// The Request-URI scheme is not sip, sips or tel.
    #[error("Unsupported URI Scheme")]
    UnsupportedScheme,
    /// The Request-URI is malformed.
    #[error("Bad Request-URI")]
    BadUri,
    /// The SIP version is not SIP/2.0.
    #[error("Version Not Supported")]
    VersionNotSupported,
    /// The start line is malformed.
    #[error("Bad Start Line: {0}")]
    BadStartLine(&'static str),
    /// The header section is not valid UTF-8.
    #[error("Bad Header: invalid UTF-8")]
    NotUtf8,
    /// A header line has no colon or a bad name.
    #[error("Bad Header Line")]
    BadHeaderLine,
    /// A header the SBC needs could not be read.
    #[error("{0}")]
    BadHeader(HeaderError),
    /// A mandatory header is missing (RFC 3261 §8.1.1).
    #[error("Missing {0} Header")]
    MissingHeader(&'static str),
    /// A header that may appear once appears several times.
    #[error("Multiple {0} Headers")]
    DuplicateHeader(&'static str),
    /// The CSeq method differs from the request method (RFC 3261 §8.1.1.5).
    #[error("CSeq Method Mismatch")]
    CSeqMismatch,
    /// The message ends before the end of its header section.
    #[error("Incomplete Message")]
    Incomplete,
    /// The body is shorter than Content-Length says (RFC 3261 §18.3).
    #[error("Content-Length Exceeds Body")]
    BodyTooShort,
    /// Content-Length is missing on a stream transport (RFC 3261 §18.3).
    #[error("Missing Content-Length on Stream")]
    MissingContentLength,
}

/// A SIP message that could not be read: why, and what of it could still be read so that the
/// transaction layer can answer a request with the right response (RFC 3261 §8.2).
#[derive(Clone, Debug, Error)]
#[error("{kind}")]
pub struct ParseError {
    /// Why the message was rejected.
    pub kind: ParseErrorKind,
    /// The start line and the headers read before the error, when the start line could be read.
    pub partial: Option<Box<Message>>,
}

impl ParseError {
    pub(crate) fn new(kind: ParseErrorKind) -> Self {
        Self {
            kind,
            partial: None,
        }
    }

    /// The status code to answer a request that failed this way with.
    pub fn status(&self) -> u16 {
        match self.kind {
            ParseErrorKind::MessageTooLarge => 513,
            ParseErrorKind::BodyTooLarge => 413,
            ParseErrorKind::UriTooLong => 414,
            ParseErrorKind::UnsupportedScheme => 416,
            ParseErrorKind::VersionNotSupported => 505,
            _ => 400,
        }
    }

    /// The reason phrase to answer with, naming the bad header where there is one.
    pub fn reason(&self) -> String {
        self.kind.to_string()
    }

    /// Whether enough of the message was read to answer it: a request with a Via that parses
    /// (where the answer goes) and From, To, Call-ID and CSeq present, which the answer copies as
    /// they are even when one of them is the malformed part (RFC 3261 §8.2.6.2; RFC 4475
    /// §3.1.2.13 expects a 400 to a To with spaces inside its brackets).
    pub fn can_reply(&self) -> bool {
        use super::HeaderName as H;
        self.partial.as_deref().is_some_and(|m| {
            m.is_request()
                && m.via().is_some()
                && [H::From, H::To, H::CallId, H::CSeq]
                    .iter()
                    .all(|h| m.has(h))
        })
    }

    /// The response to send for a request that failed to parse, if one can be built.
    pub fn reply(&self) -> Option<Message> {
        if !self.can_reply() {
            return None;
        }
        let req = self.partial.as_deref()?;
        Some(Message::response_to(req, self.status(), &self.reason()))
    }
}
