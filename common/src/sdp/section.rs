//! Reading and editing the lines of one section (session level or one media section).
//! The same rules apply at both levels, so [`Sdp`](super::Sdp) and
//! [`MediaDescription`](super::MediaDescription) share these.

use std::net::IpAddr;

use super::fields::{Attribute, Connection, Direction};
use super::line::Line;
use super::SdpError;

pub(crate) fn attributes(lines: &[Line]) -> impl Iterator<Item = Attribute<'_>> {
    lines.iter().filter_map(Attribute::from_line)
}

/// The value of the first attribute called `name`; `""` for a property attribute.
pub(crate) fn attribute<'a>(lines: &'a [Line], name: &str) -> Option<&'a str> {
    attributes(lines)
        .find(|a| a.is(name))
        .map(|a| a.value.unwrap_or_default())
}

pub(crate) fn has_attribute(lines: &[Line], name: &str) -> bool {
    lines.iter().any(|l| l.is_attribute(name))
}

/// The direction attribute of the section; the last one wins if a sender wrote several.
pub(crate) fn direction(lines: &[Line]) -> Option<Direction> {
    lines
        .iter()
        .filter_map(Line::attribute_parts)
        .filter_map(|(name, _)| Direction::from_name(name))
        .next_back()
}

/// The first `c=` line of the section.
pub(crate) fn connection(lines: &[Line]) -> Option<Connection<'_>> {
    lines
        .iter()
        .filter(|l| l.is(b'c'))
        .find_map(|l| Connection::parse(l.value()?))
}

/// Index just past the last non-blank line: where appended lines go, so that blank lines
/// a sender left at the end of the body stay at the end.
pub(crate) fn end_of_content(lines: &[Line]) -> usize {
    lines
        .iter()
        .rposition(|l| !l.is_blank())
        .map_or(0, |i| i + 1)
}

/// Text that can go into a line: no CR, LF or NUL, which would break the line structure.
pub(crate) fn check_text(text: &str) -> Result<(), SdpError> {
    if text.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        Err(SdpError::InvalidText)
    } else {
        Ok(())
    }
}

pub(crate) fn attribute_line(name: &str, value: Option<&str>) -> Result<Line, SdpError> {
    check_text(name)?;
    if name.is_empty() || name.contains(':') {
        return Err(SdpError::InvalidText);
    }
    match value {
        Some(v) => {
            check_text(v)?;
            Ok(Line::new(b'a', &format!("{name}:{v}")))
        }
        None => Ok(Line::new(b'a', name)),
    }
}

pub(crate) fn add_attribute(
    lines: &mut Vec<Line>,
    name: &str,
    value: Option<&str>,
) -> Result<(), SdpError> {
    let line = attribute_line(name, value)?;
    let at = end_of_content(lines);
    lines.insert(at, line);
    Ok(())
}

/// Removes every attribute called `name`; returns how many were removed.
pub(crate) fn remove_attribute(lines: &mut Vec<Line>, name: &str) -> usize {
    let before = lines.len();
    lines.retain(|l| !l.is_attribute(name));
    before - lines.len()
}

/// Replaces the direction attributes of the section by one, where the first was, or appends
/// one if there was none.
pub(crate) fn set_direction(lines: &mut Vec<Line>, direction: Direction) {
    let is_direction = |l: &Line| {
        l.attribute_parts()
            .is_some_and(|(n, _)| Direction::from_name(n).is_some())
    };
    let first = lines.iter().position(is_direction);
    lines.retain(|l| !is_direction(l));
    let at = first.unwrap_or_else(|| end_of_content(lines));
    lines.insert(at.min(lines.len()), Line::new(b'a', direction.as_str()));
}

/// Rewrites every `c=` line of the section to `IN IP4|IP6 <ip>`; returns how many there were.
pub(crate) fn rewrite_connections(lines: &mut [Line], ip: IpAddr) -> usize {
    let value = Connection::value_for(ip);
    let mut n = 0;
    for line in lines.iter_mut().filter(|l| l.is(b'c')) {
        *line = line.with_value(&value);
        n += 1;
    }
    n
}

/// A string with `s[start..end]` replaced, for rewrites that keep the rest of a line as sent.
pub(crate) fn splice(s: &str, start: usize, end: usize, with: &str) -> String {
    let head = s.get(..start).unwrap_or_default();
    let tail = s.get(end..).unwrap_or_default();
    let mut out = String::with_capacity(head.len() + with.len() + tail.len());
    out.push_str(head);
    out.push_str(with);
    out.push_str(tail);
    out
}
