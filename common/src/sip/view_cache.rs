//! Where the typed views read on every hop (top Via, From, To, CSeq) sit in a message's header
//! text, found by their parsers once and kept with the message (RFC 3261 §8.1.1, §20).
//!
//! A call reads the same few views dozens of times (transaction keys, dialog ids, routing,
//! records), so [`Message`](super::Message) keeps byte offsets of each parsed view next to its
//! headers and rebuilds the borrowed view from them. An edit that moves headers clears the cache;
//! one that leaves every header in its place forgets only the view of the name it touched.

use super::fields::{CSeq, HeaderError};
use super::header::HeaderName;
use super::name_addr::NameAddr;
use super::params::Params;
use super::uri::{Uri, UriAt};
use super::via::Via;
use std::cell::OnceCell;

/// A byte range inside one header value (or the Request-URI); empty parts are stored as `0..0`
/// wherever they were.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::sip) struct Span {
    start: u32,
    end: u32,
}

impl Span {
    /// The range `part` covers in `base`, or `None` if `part` is not a slice of `base`.
    pub(in crate::sip) fn of(base: &str, part: &str) -> Option<Self> {
        if part.is_empty() {
            return Some(Self { start: 0, end: 0 });
        }
        let start = (part.as_ptr() as usize).checked_sub(base.as_ptr() as usize)?;
        let end = start.checked_add(part.len())?;
        if end > base.len() {
            return None;
        }
        Some(Self {
            start: u32::try_from(start).ok()?,
            end: u32::try_from(end).ok()?,
        })
    }

    /// The text this range covers in `base`.
    pub(in crate::sip) fn get(self, base: &str) -> Option<&str> {
        base.get(self.start as usize..self.end as usize)
    }
}

/// A parsed [`Via`] as offsets into its header's value.
#[derive(Clone, Copy, Debug)]
pub(super) struct ViaAt {
    protocol: Span,
    version: Span,
    transport: Span,
    host: Span,
    port: Option<u16>,
    params: Span,
    /// The `branch` value, looked up once (RFC 3261 §8.1.1.7): every hop keys a transaction by it.
    branch: Option<Span>,
}

impl ViaAt {
    fn of(base: &str, v: &Via<'_>) -> Option<Self> {
        Some(Self {
            protocol: Span::of(base, v.protocol)?,
            version: Span::of(base, v.version)?,
            transport: Span::of(base, v.transport)?,
            host: Span::of(base, v.host)?,
            port: v.port,
            params: Span::of(base, v.params.as_str())?,
            branch: match v.branch() {
                Some(b) => Some(Span::of(base, b)?),
                None => None,
            },
        })
    }

    fn view(self, base: &str) -> Option<Via<'_>> {
        Some(Via {
            protocol: self.protocol.get(base)?,
            version: self.version.get(base)?,
            transport: self.transport.get(base)?,
            host: self.host.get(base)?,
            port: self.port,
            params: Params::new(self.params.get(base)?),
            branch_hint: Some(match self.branch {
                Some(b) => Some(b.get(base)?),
                None => None,
            }),
        })
    }
}

/// A parsed [`NameAddr`] as offsets into its header's value.
#[derive(Clone, Copy, Debug)]
pub(super) struct NameAddrAt {
    display: Option<Span>,
    uri: Span,
    bracketed: bool,
    params: Span,
    /// The `tag` value, looked up once (RFC 3261 §19.3): dialogs and transactions key by it.
    tag: Option<Span>,
}

impl NameAddrAt {
    fn of(base: &str, a: &NameAddr<'_>) -> Option<Self> {
        Some(Self {
            display: match a.display {
                Some(d) => Some(Span::of(base, d)?),
                None => None,
            },
            uri: Span::of(base, a.uri)?,
            bracketed: a.bracketed,
            params: Span::of(base, a.params.as_str())?,
            tag: match a.tag() {
                Some(t) => Some(Span::of(base, t)?),
                None => None,
            },
        })
    }

    fn view(self, base: &str) -> Option<NameAddr<'_>> {
        Some(NameAddr {
            display: match self.display {
                Some(d) => Some(d.get(base)?),
                None => None,
            },
            uri: self.uri.get(base)?,
            bracketed: self.bracketed,
            params: Params::new(self.params.get(base)?),
            tag_hint: Some(match self.tag {
                Some(t) => Some(t.get(base)?),
                None => None,
            }),
        })
    }
}

/// A parsed [`CSeq`] as offsets into its header's value.
#[derive(Clone, Copy, Debug)]
pub(super) struct CSeqAt {
    seq: u32,
    method: Span,
}

impl CSeqAt {
    fn of(base: &str, c: &CSeq<'_>) -> Option<Self> {
        Some(Self {
            seq: c.seq,
            method: Span::of(base, c.method)?,
        })
    }

    fn view(self, base: &str) -> Option<CSeq<'_>> {
        Some(CSeq {
            seq: self.seq,
            method: self.method.get(base)?,
        })
    }
}

/// What the parser made of one view: where it sits (header index and offsets), why it failed, that
/// the header is absent, or that it could not be stored (then it is parsed on every read).
#[derive(Clone, Copy, Debug)]
pub(super) enum Slot<T> {
    /// Parsed: the header's index and the view's offsets in its value.
    Found(usize, T),
    /// The header's text does not parse.
    Bad(HeaderError),
    /// No such header.
    Absent,
    /// Parsed, but the offsets could not be kept.
    Uncached,
}

/// The parse results kept with one message; cloning a message clones them with its headers.
#[derive(Clone, Debug, Default)]
pub(super) struct ViewCache {
    /// The topmost Via value.
    pub(super) via: OnceCell<Slot<ViaAt>>,
    /// The From header.
    pub(super) from: OnceCell<Slot<NameAddrAt>>,
    /// The To header.
    pub(super) to: OnceCell<Slot<NameAddrAt>>,
    /// The CSeq header.
    pub(super) cseq: OnceCell<Slot<CSeqAt>>,
    /// The Request-URI (in the start line: index 0 stands for it).
    pub(super) uri: OnceCell<Slot<UriAt>>,
}

/// A cached view read back, or a reason to parse again.
pub(super) enum Cached<V> {
    /// The view, rebuilt from its offsets.
    View(V),
    /// The cached parse failure.
    Bad(HeaderError),
    /// The header is absent.
    Absent,
    /// Not cacheable: the caller parses.
    Parse,
}

/// One cacheable view kind: how to store a parsed view as offsets and rebuild it.
pub(super) trait ViewKind<'a>: Sized {
    /// The offsets form.
    type At: Copy;
    /// Stores `self`, parsed from `base`, as offsets.
    fn at(&self, base: &str) -> Option<Self::At>;
    /// Rebuilds the view from offsets into `base`.
    fn rebuild(at: Self::At, base: &'a str) -> Option<Self>;
}

impl<'a> ViewKind<'a> for Via<'a> {
    type At = ViaAt;
    fn at(&self, base: &str) -> Option<ViaAt> {
        ViaAt::of(base, self)
    }
    fn rebuild(at: ViaAt, base: &'a str) -> Option<Self> {
        at.view(base)
    }
}

impl<'a> ViewKind<'a> for NameAddr<'a> {
    type At = NameAddrAt;
    fn at(&self, base: &str) -> Option<NameAddrAt> {
        NameAddrAt::of(base, self)
    }
    fn rebuild(at: NameAddrAt, base: &'a str) -> Option<Self> {
        at.view(base)
    }
}

impl<'a> ViewKind<'a> for CSeq<'a> {
    type At = CSeqAt;
    fn at(&self, base: &str) -> Option<CSeqAt> {
        CSeqAt::of(base, self)
    }
    fn rebuild(at: CSeqAt, base: &'a str) -> Option<Self> {
        at.view(base)
    }
}

impl<'a> ViewKind<'a> for Uri<'a> {
    type At = UriAt;
    fn at(&self, _base: &str) -> Option<UriAt> {
        Uri::at(self)
    }
    fn rebuild(at: UriAt, base: &'a str) -> Option<Self> {
        Uri::from_at(&at, base)
    }
}

impl ViewCache {
    /// Forgets every cached view (after an edit that moves headers).
    pub(super) fn clear(&mut self) {
        *self = Self::default();
    }

    /// Forgets the parsed Request-URI (after the start line changed).
    pub(super) fn forget_uri(&mut self) {
        self.uri = OnceCell::new();
    }

    /// Forgets the view of the headers named `name` (after an edit of those alone, every header
    /// staying in its place).
    pub(super) fn forget(&mut self, name: &HeaderName) {
        match name {
            HeaderName::Via => self.via = OnceCell::new(),
            HeaderName::From => self.from = OnceCell::new(),
            HeaderName::To => self.to = OnceCell::new(),
            HeaderName::CSeq => self.cseq = OnceCell::new(),
            _ => {}
        }
    }

    /// Reads a cached view, parsing it with `find` first if needed; `header(i)` gives the value of
    /// header `i`. `find` returns the header index, the value the view was parsed from and the
    /// parse result.
    pub(super) fn read<'a, V: ViewKind<'a>>(
        slot: &OnceCell<Slot<V::At>>,
        header: impl Fn(usize) -> Option<&'a str>,
        find: impl FnOnce() -> Option<(usize, Result<V, HeaderError>)>,
    ) -> Cached<V> {
        let cached = slot.get_or_init(|| match find() {
            None => Slot::Absent,
            Some((_, Err(e))) => Slot::Bad(e),
            Some((i, Ok(v))) => match header(i).and_then(|base| v.at(base)) {
                Some(at) => Slot::Found(i, at),
                None => Slot::Uncached,
            },
        });
        match *cached {
            Slot::Found(i, at) => match header(i).and_then(|base| V::rebuild(at, base)) {
                Some(v) => Cached::View(v),
                None => Cached::Parse,
            },
            Slot::Bad(e) => Cached::Bad(e),
            Slot::Absent => Cached::Absent,
            Slot::Uncached => Cached::Parse,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_only_cover_slices_of_their_base() {
        let base = "SIP/2.0/UDP host;branch=z9hG4bK1";
        let part = base.get(12..16).unwrap();
        let s = Span::of(base, part).unwrap();
        assert_eq!(s.get(base), Some("host"));
        assert_eq!(Span::of(base, "").unwrap().get(base), Some(""));
        let other = String::from("host");
        assert_eq!(Span::of(base, &other), None);
    }
}
