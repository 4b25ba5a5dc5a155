//! The lossless line model: one [`Line`] per line of the body, remembering its ending.

use std::fmt;

use bytes::Bytes;

/// How a line ended in the input, so that an unchanged body serializes byte for byte.
///
/// RFC 4566 §5 prescribes CRLF but asks parsers to accept a bare LF as well.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LineEnding {
    /// `\r\n`; also the ending of every line that a rewrite adds.
    CrLf,
    /// A bare `\n`.
    Lf,
    /// No ending: the last line of a body that does not end with a newline.
    Missing,
}

impl LineEnding {
    /// The bytes of this ending.
    pub fn as_bytes(self) -> &'static [u8] {
        match self {
            Self::CrLf => b"\r\n",
            Self::Lf => b"\n",
            Self::Missing => b"",
        }
    }
}

/// One line of an SDP body: `<type>=<value>`, or a blank line kept only to be written back.
///
/// The bytes are a slice of the parsed buffer (no copy) until a rewrite replaces the line.
/// The ending is not part of [`Line::as_bytes`]; see [`Line::ending`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Line {
    raw: Bytes,
    ending: LineEnding,
}

impl Line {
    /// A line read from the input. The parser has checked that `raw` is blank or `<letter>=...`.
    pub(crate) fn from_parts(raw: Bytes, ending: LineEnding) -> Self {
        Self { raw, ending }
    }

    /// A new `<kind>=<value>` line ending in CRLF.
    pub(crate) fn new(kind: u8, value: &str) -> Self {
        let mut raw = Vec::with_capacity(value.len() + 2);
        raw.push(kind);
        raw.push(b'=');
        raw.extend_from_slice(value.as_bytes());
        Self {
            raw: Bytes::from(raw),
            ending: LineEnding::CrLf,
        }
    }

    /// The same kind of line, with the same ending, carrying a new value.
    pub(crate) fn with_value(&self, value: &str) -> Self {
        let kind = self.kind_byte().unwrap_or(b'a');
        Self {
            ending: self.ending,
            ..Self::new(kind, value)
        }
    }

    /// The type letter (`'v'`, `'o'`, `'m'`, `'a'`, ...), or `None` for a blank line.
    pub fn kind(&self) -> Option<char> {
        self.kind_byte().map(char::from)
    }

    pub(crate) fn kind_byte(&self) -> Option<u8> {
        match self.raw.as_ref() {
            [k, b'=', ..] if k.is_ascii_alphabetic() => Some(*k),
            _ => None,
        }
    }

    pub(crate) fn is(&self, kind: u8) -> bool {
        self.kind_byte() == Some(kind)
    }

    /// Whether this is an empty or whitespace-only line (tolerated and kept verbatim).
    pub fn is_blank(&self) -> bool {
        self.kind_byte().is_none()
    }

    /// The bytes after `<type>=` (empty for a blank line).
    pub fn value_bytes(&self) -> &[u8] {
        if self.is_blank() {
            return &[];
        }
        self.raw.get(2..).unwrap_or_default()
    }

    /// The value after `<type>=` as text; `None` for a blank line or a value that is not UTF-8
    /// (possible in `s=`, `i=` and attribute values under `a=charset`).
    pub fn value(&self) -> Option<&str> {
        if self.is_blank() {
            return None;
        }
        std::str::from_utf8(self.value_bytes()).ok()
    }

    /// The whole line without its ending.
    pub fn as_bytes(&self) -> &[u8] {
        &self.raw
    }

    /// How the line ended in the input (CRLF for lines added by a rewrite).
    pub fn ending(&self) -> LineEnding {
        self.ending
    }

    /// Bytes this line takes when written; `last` tells whether it ends the body.
    pub(crate) fn encoded_len(&self, last: bool) -> usize {
        self.raw.len() + self.written_ending(last).len()
    }

    /// The ending to write: a line that lost its place at the end of the body gets CRLF.
    pub(crate) fn written_ending(&self, last: bool) -> &'static [u8] {
        match self.ending {
            LineEnding::Missing if !last => LineEnding::CrLf.as_bytes(),
            e => e.as_bytes(),
        }
    }

    /// For an `a=` line: the attribute name (trailing blanks trimmed) and the value after `:`.
    pub(crate) fn attribute_parts(&self) -> Option<(&[u8], Option<&[u8]>)> {
        if !self.is(b'a') {
            return None;
        }
        let v = self.value_bytes();
        let (name, value) = match v.iter().position(|&b| b == b':') {
            Some(i) => (v.get(..i)?, Some(v.get(i + 1..)?)),
            None => (v, None),
        };
        Some((name.trim_ascii_end(), value))
    }

    /// Whether this is an `a=` line whose name is `name` (ASCII case-insensitive).
    pub(crate) fn is_attribute(&self, name: &str) -> bool {
        self.attribute_parts()
            .is_some_and(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
    }
}

impl fmt::Debug for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Line")
            .field(&String::from_utf8_lossy(&self.raw))
            .field(&self.ending)
            .finish()
    }
}

/// A whitespace-separated token and its byte offset in the string it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token<'a> {
    pub(crate) start: usize,
    pub(crate) text: &'a str,
}

impl Token<'_> {
    pub(crate) fn end(&self) -> usize {
        self.start + self.text.len()
    }
}

/// Splits on runs of spaces and tabs, from either end. Real phones sometimes double a space
/// or leave one at the end of a line, so fields are never split on single spaces.
#[derive(Debug, Clone)]
pub(crate) struct Tokens<'a> {
    s: &'a str,
    front: usize,
    back: usize,
}

pub(crate) fn tokens(s: &str) -> Tokens<'_> {
    Tokens {
        s,
        front: 0,
        back: s.len(),
    }
}

fn is_blank_byte(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

impl<'a> Tokens<'a> {
    fn byte(&self, i: usize) -> Option<u8> {
        self.s.as_bytes().get(i).copied()
    }

    /// The text from the next token to the end (trailing blanks trimmed), without consuming.
    pub(crate) fn rest(&self) -> &'a str {
        let mut i = self.front;
        while i < self.back && self.byte(i).is_some_and(is_blank_byte) {
            i += 1;
        }
        self.s
            .get(i..self.back)
            .unwrap_or_default()
            .trim_end_matches([' ', '\t'])
    }
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        while self.front < self.back && self.byte(self.front).is_some_and(is_blank_byte) {
            self.front += 1;
        }
        if self.front >= self.back {
            return None;
        }
        let start = self.front;
        while self.front < self.back && self.byte(self.front).is_some_and(|b| !is_blank_byte(b)) {
            self.front += 1;
        }
        // Both ends sit next to ASCII blanks or at the string's ends: char boundaries.
        Some(Token {
            start,
            text: self.s.get(start..self.front)?,
        })
    }
}

impl<'a> DoubleEndedIterator for Tokens<'a> {
    fn next_back(&mut self) -> Option<Token<'a>> {
        while self.back > self.front && self.byte(self.back - 1).is_some_and(is_blank_byte) {
            self.back -= 1;
        }
        if self.back <= self.front {
            return None;
        }
        let end = self.back;
        while self.back > self.front && self.byte(self.back - 1).is_some_and(|b| !is_blank_byte(b))
        {
            self.back -= 1;
        }
        Some(Token {
            start: self.back,
            text: self.s.get(self.back..end)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(s: &str) -> Vec<&str> {
        tokens(s).map(|t| t.text).collect()
    }

    #[test]
    fn tokens_split_on_runs_of_blanks() {
        assert_eq!(texts("IN IP4  1.2.3.4 "), ["IN", "IP4", "1.2.3.4"]);
        assert_eq!(texts("\t a\tb "), ["a", "b"]);
        assert!(texts("   ").is_empty());
        assert!(texts("").is_empty());
        let back: Vec<_> = tokens(" a bb  c ")
            .rev()
            .map(|t| (t.start, t.text))
            .collect();
        assert_eq!(back, [(7, "c"), (3, "bb"), (1, "a")]);
    }

    #[test]
    fn tokens_meet_in_the_middle() {
        let mut t = tokens("a b c");
        assert_eq!(t.next().map(|t| t.text), Some("a"));
        assert_eq!(t.next_back().map(|t| t.text), Some("c"));
        assert_eq!(t.rest(), "b");
        assert_eq!(t.next().map(|t| t.text), Some("b"));
        assert_eq!(t.next_back(), None);
        assert_eq!(t.next(), None);
    }

    #[test]
    fn line_accessors() {
        let l = Line::from_parts(Bytes::from_static(b"a=rtpmap:0 PCMU/8000"), LineEnding::Lf);
        assert_eq!(l.kind(), Some('a'));
        assert_eq!(l.value(), Some("rtpmap:0 PCMU/8000"));
        assert_eq!(
            l.attribute_parts(),
            Some((&b"rtpmap"[..], Some(&b"0 PCMU/8000"[..])))
        );
        assert!(l.is_attribute("RTPMAP"));
        let blank = Line::from_parts(Bytes::from_static(b"  "), LineEnding::CrLf);
        assert!(blank.is_blank());
        assert_eq!(blank.value(), None);
        assert_eq!(blank.value_bytes(), b"");
        let flag = Line::new(b'a', "sendrecv ");
        assert_eq!(flag.attribute_parts(), Some((&b"sendrecv"[..], None)));
        assert_eq!(flag.ending(), LineEnding::CrLf);
        assert_eq!(flag.with_value("x").as_bytes(), b"a=x");
    }
}
