//! A parsed [`Uri`] kept as offsets into its text, so a message's view cache holds its
//! Request-URI parsed once however many layers read it (RFC 3261 §19.1).

use super::{Host, HostKind, Scheme, Uri};
use crate::sip::view_cache::Span;

impl<'a> Uri<'a> {
    /// This URI as offsets into its text, for a view cache; `None` if a part is not a slice of
    /// it.
    pub(crate) fn at(&self) -> Option<UriAt> {
        let base = self.raw;
        let span = |part: &str| Span::of(base, part);
        Some(UriAt {
            scheme: match self.scheme {
                Scheme::Sip => SchemeAt::Sip,
                Scheme::Sips => SchemeAt::Sips,
                Scheme::Tel => SchemeAt::Tel,
                Scheme::Other(_) => SchemeAt::Other,
            },
            scheme_text: span(self.scheme_text)?,
            user: match self.user {
                Some(u) => Some(span(u)?),
                None => None,
            },
            password: match self.password {
                Some(p) => Some(span(p)?),
                None => None,
            },
            host: match self.host {
                Some(h) => Some((span(h.raw)?, h.kind)),
                None => None,
            },
            port: self.port,
            port_text: span(self.port_text)?,
            params: span(self.params)?,
            headers: span(self.headers)?,
            body: span(self.body)?,
        })
    }

    /// Rebuilds the URI [`Uri::at`] described from the same text `raw`.
    pub(crate) fn from_at(at: &UriAt, raw: &'a str) -> Option<Self> {
        let scheme_text = at.scheme_text.get(raw)?;
        Some(Self {
            raw,
            scheme: match at.scheme {
                SchemeAt::Sip => Scheme::Sip,
                SchemeAt::Sips => Scheme::Sips,
                SchemeAt::Tel => Scheme::Tel,
                SchemeAt::Other => Scheme::Other(scheme_text),
            },
            scheme_text,
            user: match at.user {
                Some(u) => Some(u.get(raw)?),
                None => None,
            },
            password: match at.password {
                Some(p) => Some(p.get(raw)?),
                None => None,
            },
            host: match at.host {
                Some((h, kind)) => Some(Host {
                    raw: h.get(raw)?,
                    kind,
                }),
                None => None,
            },
            port: at.port,
            port_text: at.port_text.get(raw)?,
            params: at.params.get(raw)?,
            headers: at.headers.get(raw)?,
            body: at.body.get(raw)?,
        })
    }
}

/// Which scheme a cached URI has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SchemeAt {
    Sip,
    Sips,
    Tel,
    Other,
}

/// A parsed [`Uri`] as offsets into its text, kept by a message's view cache so the
/// Request-URI is parsed once however many layers read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct UriAt {
    scheme: SchemeAt,
    scheme_text: Span,
    user: Option<Span>,
    password: Option<Span>,
    host: Option<(Span, HostKind)>,
    port: Option<u16>,
    port_text: Span,
    params: Span,
    headers: Span,
    body: Span,
}
