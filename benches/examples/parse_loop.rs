//! Parses and serializes the bench INVITE in a loop, for profiling with callgrind:
//! `valgrind --tool=callgrind target/release/examples/parse_loop [sbc|rsip] [iterations]`.

use bytes::Bytes;
use sbc_common::sip::{Limits, Message};

const INVITE: &[u8] = include_bytes!("../data/invite.sip");

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
