//! Splitting a body into lines and checking the structure the SBC relies on.

use bytes::Bytes;

use super::fields::{Connection, MediaLine, MediaLineError, Origin, Timing};
use super::line::{Line, LineEnding};
use super::{MediaDescription, Sdp, SdpError};

/// Parses `input` without copying it: every line is a slice of `input`'s buffer.
pub(crate) fn parse(input: Bytes) -> Result<Sdp, SdpError> {
    let mut session: Vec<Line> = Vec::new();
    let mut media: Vec<MediaDescription> = Vec::new();
    let mut seen_version = false;
    let mut seen_origin = false;
    let mut number = 0;
    let mut rest = input;

    while !rest.is_empty() {
        number += 1;
        // One scan finds the line's end and any NUL or CR inside it (illegal, RFC 4566 §5).
        let (len, ending, consumed) = match memchr::memchr3(b'\n', b'\r', 0, &rest) {
            Some(i) => match rest.get(i) {
                Some(b'\n') => (i, LineEnding::Lf, i + 1),
                Some(b'\r') if rest.get(i + 1) == Some(&b'\n') => (i, LineEnding::CrLf, i + 2),
                _ => return Err(SdpError::IllegalCharacter { line: number }),
            },
            None => (rest.len(), LineEnding::Missing, rest.len()),
        };
        // `consumed <= rest.len()` and `len <= consumed` by construction: neither call panics.
        let mut raw = rest.split_to(consumed);
        raw.truncate(len);
        let line = Line::from_parts(raw, ending);
        check_line(&line, number)?;

        let in_media = !media.is_empty();
        match line.kind_byte() {
            None => {}
            Some(b'v') => {
                if seen_version {
                    return Err(SdpError::Misplaced {
                        line: number,
                        kind: 'v',
                    });
                }
                if line.value().map(str::trim_ascii) != Some("0") {
                    return Err(SdpError::BadVersion { line: number });
                }
                seen_version = true;
            }
            Some(_) if !seen_version => return Err(SdpError::MissingVersion),
            Some(b'o') => {
                if seen_origin || in_media {
                    return Err(SdpError::Misplaced {
                        line: number,
                        kind: 'o',
                    });
                }
                line.value()
                    .and_then(Origin::parse)
                    .ok_or(SdpError::BadOrigin { line: number })?;
                seen_origin = true;
            }
            Some(b'c') => {
                line.value()
                    .and_then(Connection::parse)
                    .ok_or(SdpError::BadConnection { line: number })?;
            }
            Some(b't') if !in_media => {
                line.value()
                    .and_then(Timing::parse)
                    .ok_or(SdpError::BadTiming { line: number })?;
            }
            Some(b'm') => {
                let value = line.value().ok_or(SdpError::BadMedia {
                    line: number,
                    reason: "not UTF-8",
                })?;
                MediaLine::parse(value).map_err(|e| match e {
                    MediaLineError::Port => SdpError::BadPort { line: number },
                    MediaLineError::Media(reason) => SdpError::BadMedia {
                        line: number,
                        reason,
                    },
                })?;
                media.push(MediaDescription { lines: vec![line] });
                continue;
            }
            Some(_) => {}
        }
        match media.last_mut() {
            Some(m) => m.lines.push(line),
            None => session.push(line),
        }
    }

    if !seen_version {
        return Err(SdpError::Empty);
    }
    if !seen_origin {
        return Err(SdpError::MissingOrigin);
    }
    Ok(Sdp { session, media })
}

/// Every line is blank or `<letter>=...` (the line split has already refused NUL and CR).
fn check_line(line: &Line, number: usize) -> Result<(), SdpError> {
    let raw = line.as_bytes();
    if line.kind_byte().is_none() && !raw.iter().all(|&b| b == b' ' || b == b'\t') {
        return Err(SdpError::MalformedLine { line: number });
    }
    Ok(())
}
