//! Torture vectors (tests/vectors/sip/index.tsv): each file is parsed and must get exactly the
//! verdict its index line gives; valid ones must also serialize byte-identical.

use bytes::Bytes;
use sbc_common::sip::{Limits, Message};
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors/sip")
}

#[test]
fn every_vector_gets_its_verdict() {
    let index = std::fs::read_to_string(dir().join("index.tsv")).expect("index.tsv");
    let mut checked = 0;
    let mut failures = Vec::new();
    for line in index
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let cols: Vec<&str> = line.split('\t').collect();
        let [file, verdict, status, reason, ..] = cols[..] else {
            panic!("bad index line {line:?}");
        };
        let data = std::fs::read(dir().join(file)).expect(file);
        let result = Message::parse_checked(Bytes::from(data.clone()), &Limits::default());
        match (verdict, result) {
            ("valid", Ok(m)) => {
                // Byte-identical round trip, except bytes past Content-Length which are dropped
                // and a Content-Length the writer adds where there was none (RFC 3261 §18.3).
                let out = m.to_bytes();
                let start = data
                    .iter()
                    .position(|&b| b != b'\r' && b != b'\n')
                    .unwrap_or(0);
                let framed = has_content_length(&data[start..]);
                let expected = if framed {
                    data[start..].to_vec()
                } else {
                    with_content_length(&data[start..], m.body().len())
                };
                if !expected.starts_with(&out) {
                    failures.push(format!("{file}: round trip differs"));
                }
                let again = Message::parse(out.clone(), &Limits::default()).expect("reparse");
                if (framed && again != m) || again.to_bytes() != out {
                    failures.push(format!("{file}: reparse differs"));
                }
            }
            ("valid", Err(e)) => failures.push(format!("{file}: expected valid, got {e}")),
            ("invalid", Ok(_)) => {
                failures.push(format!("{file}: expected {status} {reason}, parsed"))
            }
            ("invalid", Err(e)) => {
                let got = (e.status().to_string(), e.reason());
                if got != (status.to_string(), reason.to_string()) {
                    failures.push(format!(
                        "{file}: expected {status} {reason:?}, got {} {:?}",
                        got.0, got.1
                    ));
                }
            }
            (v, _) => panic!("unknown verdict {v}"),
        }
        checked += 1;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 40, "only {checked} vectors");
}

/// Whether the raw message has a Content-Length header line (long or compact form).
fn has_content_length(data: &[u8]) -> bool {
    let head = data
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(data, |i| &data[..i]);
    head.split(|&b| b == b'\n').any(|line| {
        let name = line.split(|&b| b == b':').next().unwrap_or(b"");
        let name = name.trim_ascii();
        name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l")
    })
}

/// `data` with `Content-Length: len` added as the last header, as the writer adds it.
fn with_content_length(data: &[u8], len: usize) -> Vec<u8> {
    let end = data
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(data.len(), |i| i + 2);
    let mut out = data[..end].to_vec();
    out.extend_from_slice(format!("Content-Length: {len}\r\n").as_bytes());
    out.extend_from_slice(&data[end..]);
    out
}

#[test]
fn oversized_message_gets_513() {
    let mut big =
        b"OPTIONS sip:u@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nX-Pad: "
            .to_vec();
    big.extend(std::iter::repeat_n(b'a', 70_000));
    big.extend_from_slice(b"\r\n\r\n");
    let e = Message::parse(Bytes::from(big), &Limits::default()).unwrap_err();
    assert_eq!(e.status(), 513);
}
