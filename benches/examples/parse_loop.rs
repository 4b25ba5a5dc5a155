//! Parses and serializes the bench INVITE in a loop, for profiling with callgrind:
//! `valgrind --tool=callgrind target/release/examples/parse_loop [sbc|checked|sdp|rsip] [iterations]`.
//!
//! `checked` is what the sbc does with each received message: parse, the typed checks, and the
//! views the transaction and dialog layers read (top Via, From/To tags, CSeq). `sdp` is the SDP
//! rewrite the call core does on each offer and answer: parse, read each stream, point it at the
//! relay, set the origin, serialize.

use bytes::Bytes;
use sbc_common::sdp::Sdp;
use sbc_common::sip::{Limits, Message};

const INVITE: &[u8] = include_bytes!("../data/invite.sip");
const OFFER: &[u8] = include_bytes!("../data/offer.sdp");

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "sbc".into());
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let limits = Limits::default();
    let mut out = Vec::with_capacity(2048);
    let mut total = 0;
    for _ in 0..n {
        if which == "rsip" {
            let m = rsip::SipMessage::try_from(std::hint::black_box(INVITE)).expect("rsip parses");
            total += m.to_string().len();
        } else if which == "sdp" {
            let relay: std::net::IpAddr = "203.0.113.10".parse().expect("ip");
            let mut s = Sdp::parse(&Bytes::from_static(std::hint::black_box(OFFER))).expect("sdp");
            for m in s.media() {
                total += usize::from(m.port()) + m.payload_types().count();
                total += m.connection().map_or(0, |c| c.address.len());
                total += usize::from(m.rtcp_mux()) + m.direction().as_str().len();
            }
            s.set_connection_address(relay);
            for (i, m) in s.media_iter_mut().enumerate() {
                let port = 40_000 + 2 * i as u16;
                m.set_transport(relay, port, port + 1);
            }
            s.set_origin_address(relay);
            s.set_origin_version(7);
            total += s.to_bytes().len();
        } else if which == "checked" {
            let m =
                Message::parse_checked(Bytes::from_static(std::hint::black_box(INVITE)), &limits)
                    .expect("sbc parses");
            let via = m.via().expect("via");
            total += via.branch().map_or(0, str::len) + usize::from(via.port.unwrap_or(0));
            total += m.from().and_then(|f| f.tag()).map_or(0, str::len);
            total += m.to().map_or(0, |t| t.uri.len());
            total += m.cseq().map_or(0, |c| c.seq as usize);
            out.clear();
            m.write_to(&mut out);
            total += out.len();
        } else {
            let m = Message::parse(Bytes::from_static(std::hint::black_box(INVITE)), &limits)
                .expect("sbc parses");
            out.clear();
            m.write_to(&mut out);
            total += out.len();
        }
    }
    println!("{which}: {n} iterations, {total} bytes");
}
