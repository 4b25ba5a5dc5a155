//! Typed header views allocate nothing: a counting global allocator watches every typed accessor
//! the B2BUA uses on a parsed message (and the RTP/RTCP views the relay uses per packet).
// A counting global allocator needs `unsafe impl GlobalAlloc`; it only forwards to `System`.
#![allow(unsafe_code)]

use bytes::Bytes;
use sbc_common::sip::{uri::Uri, HeaderName, Limits, Message};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;
thread_local! {
    // Per thread, so the test harness's other threads do not count.
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

fn bump() {
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        bump();
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        bump();
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const INVITE: &[u8] = include_bytes!("../../benches/data/invite.sip");

fn allocations_in(f: impl FnOnce() -> usize) -> (usize, usize) {
    let before = ALLOCS.with(Cell::get);
    let r = std::hint::black_box(f());
    (ALLOCS.with(Cell::get) - before, r)
}

#[test]
fn sip_typed_views_allocate_nothing() {
    let text = String::from_utf8(INVITE.to_vec()).unwrap().replace(
        "User-Agent",
        "Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\nSession-Expires: 1800;refresher=uac\r\nEvent: presence;id=1\r\nUser-Agent",
    );
    let msg = Message::parse_checked(Bytes::from(text), &Limits::default()).unwrap();
    let (allocs, sum) = allocations_in(|| {
        let mut n = 0;
        for _ in 0..100 {
            let via = msg.via().unwrap();
            n += via.branch().unwrap().len() + usize::from(via.port.unwrap_or(0));
            n += via.rport().map_or(0, |p| usize::from(p.unwrap_or(1)));
            n += msg.vias().count();
            n += msg.from().unwrap().tag().unwrap().len();
            n += msg.to().unwrap().uri.len();
            n += msg.call_id().unwrap().len();
            n += msg.cseq().unwrap().seq as usize;
            n += msg.max_forwards().unwrap() as usize;
            n += msg.content_length().unwrap() as usize;
            n += msg.content_type().unwrap().len();
            n += msg.contacts().filter_map(Result::ok).count();
            n += msg.record_routes().filter_map(Result::ok).count();
            n += msg.tokens(&HeaderName::Supported).count();
            n += usize::from(msg.has_token(&HeaderName::Allow, "BYE"));
            n += msg.session_expires().unwrap().delta as usize;
            n += msg.event().unwrap().params.value("id").unwrap().len();
            let uri = Uri::parse(msg.uri().unwrap()).unwrap();
            n += uri.host().map_or(0, |h| h.as_str().len()) + uri.user().map_or(0, str::len);
            n += msg.header(&HeaderName::UserAgent).unwrap().len();
        }
        n
    });
    assert!(sum > 0);
    assert_eq!(allocs, 0, "typed views allocated {allocs} times");
}

#[test]
fn which_view_allocates() {
    let msg = Message::parse_checked(Bytes::from_static(INVITE), &Limits::default()).unwrap();
    type Check<'a> = (&'static str, Box<dyn Fn() -> usize + 'a>);
    let checks: Vec<Check<'_>> = vec![
        (
            "via",
            Box::new(|| msg.via().unwrap().branch().unwrap().len()),
        ),
        ("vias", Box::new(|| msg.vias().count())),
        (
            "from",
            Box::new(|| msg.from().unwrap().tag().unwrap().len()),
        ),
        ("cseq", Box::new(|| msg.cseq().unwrap().seq as usize)),
        ("contacts", Box::new(|| msg.contacts().count())),
        (
            "tokens",
            Box::new(|| msg.tokens(&HeaderName::Supported).count()),
        ),
        (
            "content_type",
            Box::new(|| msg.content_type().unwrap().len()),
        ),
        (
            "uri",
            Box::new(|| Uri::parse(msg.uri().unwrap()).unwrap().as_str().len()),
        ),
        (
            "header",
            Box::new(|| msg.header(&HeaderName::UserAgent).unwrap().len()),
        ),
    ];
    let mut bad = Vec::new();
    for (name, f) in &checks {
        let (a, _) = allocations_in(f);
        if a > 0 {
            bad.push(format!("{name}: {a}"));
        }
    }
    assert!(bad.is_empty(), "{bad:?}");
}

#[test]
fn rtp_and_rtcp_views_allocate_nothing() {
    let mut pkt = [0u8; 172];
    pkt[0] = 0x80;
    pkt[1] = 0;
    let rr: [u8; 32] = [
        0x81, 201, 0, 7, 0, 0, 0, 1, 0, 0, 0, 2, 0x10, 0, 0, 5, 0, 0, 1, 0, 0, 0, 0, 9, 0, 0, 0, 0,
        0, 0, 0, 0,
    ];
    let (allocs, sum) = allocations_in(|| {
        let mut n = 0usize;
        for i in 0..1000u16 {
            pkt[2..4].copy_from_slice(&i.to_be_bytes());
            let p = sbc_common::rtp::Packet::new_checked(&pkt[..]).unwrap();
            n += usize::from(p.sequence_number()) + p.payload().len();
            for c in sbc_common::rtcp::Compound::new(&rr[..]) {
                n += usize::from(c.unwrap().packet_type());
            }
            n += sbc_common::demux::classify(&pkt) as usize;
        }
        n
    });
    assert!(sum > 0);
    assert_eq!(allocs, 0, "packet views allocated {allocs} times");
}
