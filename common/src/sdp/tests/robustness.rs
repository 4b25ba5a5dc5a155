//! Arbitrary and mutated input never panics, and every sample survives the rewrite sweep.

use super::rfc4317::{RFC4317_2_1_OFFER, RFC4317_2_2_ANSWER, RFC4317_2_6_OFFER, RFC4317_3_1};
use super::*;

// ---------------------------------------------------------------- robustness

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Accepted input must write back byte-exact and re-parse equal; rewrites on it must keep
/// it parseable. Nothing may panic.
fn check_any_input(body: &[u8]) {
    let Ok(sdp) = Sdp::parse(body) else { return };
    assert_eq!(sdp.to_bytes(), body);
    assert_eq!(Sdp::parse(&sdp.to_bytes()).unwrap(), sdp);
    // Exercise every reader.
    let _ = (
        sdp.origin(),
        sdp.session_name(),
        sdp.timing(),
        sdp.connection(),
        sdp.is_on_hold(),
    );
    for m in sdp.media() {
        let _ = (
            m.media_type(),
            m.port(),
            m.proto(),
            m.connection(),
            m.direction(),
            m.rtcp(),
        );
        let _ = (
            m.codecs().count(),
            m.fmtps().count(),
            m.ptime(),
            m.maxptime(),
            m.is_on_hold(),
        );
    }
    let mut w = sdp.clone();
    w.set_connection_address(ip("2001:db8::1"));
    w.set_origin_address(ip("203.0.113.1"));
    let _ = w.bump_origin_version();
    w.set_session_direction(Direction::Inactive);
    for m in w.media_iter_mut() {
        m.set_transport(ip("203.0.113.1"), 30000, 30001);
        let _ = m.remove_payload_types(&[0, 8, 96]);
        m.set_direction(Direction::SendOnly);
        m.remove_attribute("rtcp-fb");
        let _ = m.add_attribute("x", Some("y"));
        m.set_connection_address(ip("203.0.113.2"));
    }
    if let Some(m) = w.media_mut(0) {
        m.reject();
    }
    let again = Sdp::parse(&w.to_bytes()).unwrap_or_else(|e| panic!("rewrite broke the SDP: {e}"));
    assert_eq!(again.to_bytes(), w.to_bytes());
    assert!(w.media().all(|m| m.direction() == Direction::SendOnly));
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let alphabet = b"vosctma=:/ \r\n\t0123456789IPN.-\x00\xff";
    for _ in 0..20_000 {
        let len = rng.below(200);
        let body: Vec<u8> = if rng.below(2) == 0 {
            (0..len).map(|_| rng.next() as u8).collect()
        } else {
            (0..len)
                .map(|_| alphabet[rng.below(alphabet.len())])
                .collect()
        };
        check_any_input(&body);
    }
}

#[test]
fn mutated_real_sdps_never_panic_and_stay_stable() {
    let mut rng = Rng(42);
    let mut seeds: Vec<Vec<u8>> = ALL_SAMPLES.iter().map(|s| crlf(s)).collect();
    seeds.extend(ALL_SAMPLES.iter().map(|s| s.as_bytes().to_vec()));
    seeds.extend([RFC4317_2_1_OFFER, RFC4317_2_2_ANSWER, RFC4317_2_6_OFFER].map(crlf));
    let interesting: [&[u8]; 12] = [
        b"\r\n",
        b"\n",
        b"\r",
        b" ",
        b"/",
        b":",
        b"0",
        b"m=",
        b"c=IN IP6 ::",
        b"a=sendonly\n",
        b"\xc3",
        b"99999",
    ];
    let mut accepted = 0;
    for round in 0..20_000 {
        let mut body = seeds[round % seeds.len()].clone();
        for _ in 0..=rng.below(4) {
            let at = rng.below(body.len() + 1);
            match rng.below(4) {
                0 if at < body.len() => body[at] = rng.next() as u8,
                1 if at < body.len() => {
                    let end = (at + rng.below(12)).min(body.len());
                    body.drain(at..end);
                }
                2 => {
                    let piece = interesting[rng.below(interesting.len())];
                    body.splice(at..at, piece.iter().copied());
                }
                _ => body.truncate(at),
            }
        }
        if Sdp::parse(&body).is_ok() {
            accepted += 1;
        }
        check_any_input(&body);
    }
    assert!(
        accepted > 2_000,
        "mutations should often stay valid ({accepted})"
    );
}

#[test]
fn every_sample_survives_the_rewrite_sweep() {
    for sample in ALL_SAMPLES.iter().chain(RFC4317_3_1.iter()) {
        check_any_input(&crlf(sample));
        check_any_input(sample.as_bytes());
    }
}
