//! RTCP views and writers: RFC 3550 vectors, malformed compounds, round trips and RTT.

use super::*;

const BLOCK_A: ReportBlockRepr = ReportBlockRepr {
    ssrc: 0x0102_0304,
    fraction_lost: 0x40,
    cumulative_lost: 1000,
    extended_highest_seq: 0x0001_0010,
    jitter: 17,
    last_sr: 0xb705_2000,
    delay_since_last_sr: 0x0005_4000,
};

const BLOCK_B: ReportBlockRepr = ReportBlockRepr {
    ssrc: 0xaabb_ccdd,
    fraction_lost: 0,
    cumulative_lost: -3,
    extended_highest_seq: 65535,
    jitter: 0,
    last_sr: 0,
    delay_since_last_sr: 0,
};

/// SR, RFC 3550 §6.4.1 layout: header, SSRC, sender info, one report block.
#[rustfmt::skip]
const SR: [u8; 52] = [
    0x81, 200, 0x00, 0x0c,              // V=2 P=0 RC=1, PT=SR, length=12
    0x11, 0x22, 0x33, 0x44,             // SSRC of sender
    0xe1, 0x2f, 0x46, 0x00,             // NTP timestamp, most significant word
    0x80, 0x00, 0x00, 0x00,             // NTP timestamp, least significant word
    0x00, 0x00, 0x03, 0x20,             // RTP timestamp 800
    0x00, 0x00, 0x00, 0x05,             // sender's packet count 5
    0x00, 0x00, 0x03, 0x20,             // sender's octet count 800
    0x01, 0x02, 0x03, 0x04,             // SSRC_1
    0x40, 0x00, 0x03, 0xe8,             // fraction lost 1/4, cumulative lost 1000
    0x00, 0x01, 0x00, 0x10,             // extended highest seq: 1 cycle, seq 16
    0x00, 0x00, 0x00, 0x11,             // jitter 17
    0xb7, 0x05, 0x20, 0x00,             // LSR
    0x00, 0x05, 0x40, 0x00,             // DLSR
];

/// RR, RFC 3550 §6.4.2 layout: header, SSRC, two report blocks.
#[rustfmt::skip]
const RR: [u8; 56] = [
    0x82, 201, 0x00, 0x0d,              // V=2 P=0 RC=2, PT=RR, length=13
    0x55, 0x66, 0x77, 0x88,             // SSRC of packet sender
    0x01, 0x02, 0x03, 0x04, 0x40, 0x00, 0x03, 0xe8, 0x00, 0x01, 0x00, 0x10,
    0x00, 0x00, 0x00, 0x11, 0xb7, 0x05, 0x20, 0x00, 0x00, 0x05, 0x40, 0x00,
    0xaa, 0xbb, 0xcc, 0xdd, 0x00, 0xff, 0xff, 0xfd, 0x00, 0x00, 0xff, 0xff,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];

/// SDES with one chunk: CNAME "user@host" (9 bytes) then END and 1 pad octet.
#[rustfmt::skip]
const SDES: [u8; 20] = [
    0x81, 202, 0x00, 0x04,
    0x11, 0x22, 0x33, 0x44,
    0x01, 0x09, b'u', b's', b'e', b'r', b'@', b'h', b'o', b's', b't', 0x00,
];

/// BYE with two sources and reason "bye" (length octet + 3 bytes = one word).
#[rustfmt::skip]
const BYE: [u8; 16] = [
    0x82, 203, 0x00, 0x03,
    0x11, 0x22, 0x33, 0x44,
    0x55, 0x66, 0x77, 0x88,
    0x03, b'b', b'y', b'e',
];

/// APP subtype 3, name "TEST", 4 bytes of data.
#[rustfmt::skip]
const APP: [u8; 16] = [
    0x83, 204, 0x00, 0x03,
    0x11, 0x22, 0x33, 0x44,
    b'T', b'E', b'S', b'T',
    0xde, 0xad, 0xbe, 0xef,
];

fn emitted(len: usize, emit: impl FnOnce(&mut [u8]) -> Result<(), Error>) -> Vec<u8> {
    let mut out = vec![0xee; len];
    emit(&mut out).unwrap();
    out
}

#[test]
fn sender_report_both_ways() {
    let repr = SenderReportRepr {
        ssrc: 0x1122_3344,
        ntp_timestamp: 0xe12f_4600_8000_0000,
        rtp_timestamp: 800,
        packet_count: 5,
        octet_count: 800,
        report_blocks: &[BLOCK_A],
    };
    assert_eq!(emitted(repr.buffer_len(), |b| repr.emit(b)), SR);
    let Ok(RtcpPacket::SenderReport(sr)) = RtcpPacket::parse(&SR) else {
        panic!("not an SR");
    };
    assert_eq!(sr.ssrc(), repr.ssrc);
    assert_eq!(sr.ntp_timestamp(), repr.ntp_timestamp);
    assert_eq!(ntp_middle_32(sr.ntp_timestamp()), 0x4600_8000);
    assert_eq!(sr.rtp_timestamp(), repr.rtp_timestamp);
    assert_eq!(sr.packet_count(), repr.packet_count);
    assert_eq!(sr.octet_count(), repr.octet_count);
    let blocks: Vec<_> = sr
        .report_blocks()
        .map(|b| ReportBlockRepr::parse(&b))
        .collect();
    assert_eq!(blocks, repr.report_blocks);
    assert_eq!(sr.extension(), b"");
}

#[test]
fn receiver_report_both_ways() {
    let repr = ReceiverReportRepr {
        ssrc: 0x5566_7788,
        report_blocks: &[BLOCK_A, BLOCK_B],
    };
    assert_eq!(emitted(repr.buffer_len(), |b| repr.emit(b)), RR);
    let rr = ReceiverReport::new_checked(&RR).unwrap();
    assert_eq!(rr.ssrc(), repr.ssrc);
    assert_eq!(rr.report_blocks().len(), 2);
    let blocks: Vec<_> = rr
        .report_blocks()
        .map(|b| ReportBlockRepr::parse(&b))
        .collect();
    assert_eq!(blocks, repr.report_blocks);
    let b = rr.report_blocks().nth(1).unwrap();
    assert_eq!(b.cumulative_lost(), -3);
    assert_eq!(b.fraction_lost(), 0);
}

#[test]
fn report_block_fields_and_clamp() {
    let block = ReportBlock::new_checked(&SR[28..]).unwrap();
    assert_eq!(block.ssrc(), 0x0102_0304);
    assert_eq!(block.fraction_lost(), 64);
    assert_eq!(block.cumulative_lost(), 1000);
    assert_eq!(block.extended_highest_seq(), 65536 + 16);
    assert_eq!(block.jitter(), 17);
    assert_eq!(block.last_sr(), 0xb705_2000);
    assert_eq!(block.delay_since_last_sr(), 0x0005_4000);
    assert_eq!(ReportBlock::new_checked(&SR[30..]), Err(Error::Truncated));
    for (lost, wire) in [
        (0x7f_ffff, [0x7f, 0xff, 0xff]),
        (0x100_0000, [0x7f, 0xff, 0xff]),
        (-0x80_0000, [0x80, 0x00, 0x00]),
        (i32::MIN, [0x80, 0x00, 0x00]),
        (-1, [0xff, 0xff, 0xff]),
    ] {
        let repr = ReportBlockRepr {
            cumulative_lost: lost,
            ..BLOCK_B
        };
        let out = emitted(24, |b| repr.emit(b));
        assert_eq!(out[5..8], wire);
        let back = ReportBlock::new_unchecked(&out).cumulative_lost();
        assert_eq!(back, lost.clamp(-0x80_0000, 0x7f_ffff));
    }
}

#[test]
fn sdes_both_ways() {
    let items = [SdesItem {
        kind: sdes_item::CNAME,
        value: b"user@host",
    }];
    let repr = SdesRepr {
        ssrc: 0x1122_3344,
        items: &items,
    };
    assert_eq!(emitted(repr.buffer_len(), |b| repr.emit(b)), SDES);
    let sdes = Sdes::new_checked(&SDES).unwrap();
    assert_eq!(sdes.cname(), Some((0x1122_3344, &b"user@host"[..])));
    let chunk = sdes.chunks().next().unwrap();
    assert_eq!(chunk.items().collect::<Vec<_>>(), items);
}

#[test]
fn sdes_multiple_chunks_and_items() {
    // Chunk 1: NAME "ab" + TOOL "xy" (ends exactly on a word, so a full null word
    // follows); chunk 2: no items at all (four null octets), chunk 3: CNAME "c".
    #[rustfmt::skip]
    let bytes = [
        0x83, 202, 0x00, 0x08,
        0, 0, 0, 1, 2, 2, b'a', b'b', 6, 2, b'x', b'y', 0, 0, 0, 0,
        0, 0, 0, 2, 0, 0, 0, 0,
        0, 0, 0, 3, 1, 1, b'c', 0,
    ];
    let sdes = Sdes::new_checked(&bytes).unwrap();
    let chunks: Vec<_> = sdes.chunks().collect();
    assert_eq!(chunks.len(), 3);
    let kinds: Vec<_> = chunks[0].items().map(|i| (i.kind, i.value)).collect();
    assert_eq!(kinds, [(2, &b"ab"[..]), (6, &b"xy"[..])]);
    assert_eq!(chunks[1].items().count(), 0);
    assert_eq!(sdes.cname(), Some((3, &b"c"[..])));
    // SC = 4 with only three chunks.
    let mut bad = bytes;
    bad[0] = 0x84;
    assert_eq!(Sdes::new_checked(&bad), Err(Error::Truncated));
    // An item overrunning the packet.
    let mut bad = SDES;
    bad[9] = 12;
    assert_eq!(Sdes::new_checked(&bad), Err(Error::Truncated));
    // Missing terminator: item ends exactly at the end of the packet.
    #[rustfmt::skip]
    let bad = [0x81, 202, 0x00, 0x02, 0, 0, 0, 1, 1, 2, b'a', b'b'];
    assert_eq!(Sdes::new_checked(&bad), Err(Error::Truncated));
}

#[test]
fn bye_both_ways() {
    let repr = ByeRepr {
        ssrcs: &[0x1122_3344, 0x5566_7788],
        reason: Some(b"bye"),
    };
    assert_eq!(emitted(repr.buffer_len(), |b| repr.emit(b)), BYE);
    let bye = Bye::new_checked(&BYE).unwrap();
    assert_eq!(bye.ssrcs().collect::<Vec<_>>(), repr.ssrcs);
    assert_eq!(bye.reason(), repr.reason);
    let bare = ByeRepr {
        ssrcs: &[7],
        reason: None,
    };
    let out = emitted(bare.buffer_len(), |b| bare.emit(b));
    assert_eq!(out, [0x81, 203, 0, 1, 0, 0, 0, 7]);
    assert_eq!(Bye::new_checked(&out).unwrap().reason(), None);
    // Reason length past the end.
    let mut bad = BYE;
    bad[12] = 4;
    assert_eq!(Bye::new_checked(&bad), Err(Error::Truncated));
    // Source count past the end.
    let mut bad = BYE;
    bad[0] = 0x84;
    assert_eq!(Bye::new_checked(&bad), Err(Error::Truncated));
}

#[test]
fn app_both_ways() {
    let repr = AppRepr {
        subtype: 3,
        ssrc: 0x1122_3344,
        name: *b"TEST",
        data: &[0xde, 0xad, 0xbe, 0xef],
    };
    assert_eq!(emitted(repr.buffer_len(), |b| repr.emit(b)), APP);
    let Ok(RtcpPacket::App(app)) = RtcpPacket::parse(&APP) else {
        panic!("not APP");
    };
    assert_eq!(app.subtype(), 3);
    assert_eq!(app.ssrc(), repr.ssrc);
    assert_eq!(&app.name(), b"TEST");
    assert_eq!(app.data(), repr.data);
    assert_eq!(
        App::new_checked(&[0x80, 204, 0, 1, 0, 0, 0, 0]),
        Err(Error::Truncated)
    );
    let bad = AppRepr {
        data: &[1, 2],
        ..repr
    };
    assert_eq!(
        bad.emit(&mut vec![0; bad.buffer_len()]),
        Err(Error::Malformed)
    );
}

#[test]
fn compound_iteration() {
    let mut datagram = Vec::new();
    datagram.extend_from_slice(&SR);
    datagram.extend_from_slice(&SDES);
    datagram.extend_from_slice(&BYE);
    assert_eq!(Compound::validate(&datagram), Ok(3));
    let types: Vec<_> = Compound::new(&datagram)
        .map(|p| p.unwrap().packet_type())
        .collect();
    assert_eq!(types, [200, 202, 203]);
    let views: Vec<_> = Compound::new(&datagram)
        .map(|p| p.unwrap().view().unwrap())
        .collect();
    assert!(matches!(views[0], RtcpPacket::SenderReport(_)));
    assert!(matches!(views[1], RtcpPacket::SourceDescription(s) if s.cname().is_some()));
    assert!(matches!(views[2], RtcpPacket::Goodbye(_)));
    // The last packet's length points past the end: Ok, Ok, Err, then nothing.
    let mut bad = datagram.clone();
    let at = SR.len() + SDES.len() + 3;
    bad[at] = 4;
    let mut it = Compound::new(&bad);
    assert!(it.next().unwrap().is_ok());
    assert!(it.next().unwrap().is_ok());
    assert_eq!(it.next(), Some(Err(Error::Truncated)));
    assert_eq!(it.next(), None);
    assert_eq!(Compound::validate(&bad), Err(Error::Truncated));
    // Trailing garbage shorter than a header.
    let mut bad = datagram.clone();
    bad.extend_from_slice(&[0x80, 0xc8]);
    assert_eq!(Compound::validate(&bad), Err(Error::Truncated));
    // Wrong version in the second packet.
    let mut bad = datagram;
    bad[SR.len()] = 0x41;
    assert_eq!(Compound::validate(&bad), Err(Error::Version));
    assert_eq!(Compound::validate(&[]), Err(Error::Truncated));
}

#[test]
fn padding_rules() {
    // RR with no blocks plus one padding word: count 4 in the last octet.
    let rr = [0xa0, 201, 0, 2, 0, 0, 0, 9, 0, 0, 0, 4];
    let p = Packet::new_checked(&rr[..]).unwrap();
    assert_eq!(p.padding_len(), 4);
    assert_eq!(p.body(), [0, 0, 0, 9]);
    let view = ReceiverReport::new_checked(&rr).unwrap();
    assert_eq!(view.extension(), b"");
    for pad in [0, 9] {
        let mut bad = rr;
        bad[11] = pad;
        assert_eq!(Packet::new_checked(&bad[..]).err(), Some(Error::Padding));
    }
    // Padding hiding part of the report blocks.
    let mut bad = [0u8; 56];
    bad.copy_from_slice(&RR);
    bad[0] |= 0x20;
    bad[55] = 8;
    assert_eq!(ReceiverReport::new_checked(&bad), Err(Error::Truncated));
}

#[test]
fn malformed_rejected() {
    assert_eq!(RtcpPacket::parse(&[]), Err(Error::Truncated));
    assert_eq!(RtcpPacket::parse(&[0x80, 200, 0]), Err(Error::Truncated));
    assert_eq!(RtcpPacket::parse(&[0x40, 200, 0, 0]), Err(Error::Version));
    // Length says 13 words, buffer has 12.
    assert_eq!(RtcpPacket::parse(&SR[..48]), Err(Error::Truncated));
    // RC = 2 but one block.
    let mut bad = SR;
    bad[0] = 0x82;
    assert_eq!(SenderReport::new_checked(&bad), Err(Error::Truncated));
    // Wrong type for the view.
    assert_eq!(ReceiverReport::new_checked(&SR), Err(Error::Malformed));
    assert_eq!(SenderReport::new_checked(&RR), Err(Error::Malformed));
    // Every truncation of every vector fails.
    for vector in [&SR[..], &RR, &SDES, &BYE, &APP] {
        for n in 0..vector.len() {
            assert!(
                RtcpPacket::parse(&vector[..n]).is_err(),
                "{vector:02x?} {n}"
            );
        }
    }
    // Unknown types pass with only the header checked.
    let fb = [0x81, 205, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2];
    assert!(matches!(RtcpPacket::parse(&fb), Ok(RtcpPacket::Other(p)) if p.ssrc() == 1));
}

#[test]
fn rtt_rfc3550_example() {
    // RFC 3550 §6.4.1, Figure 2: A = 0xb710:8000, LSR = 0xb705:2000, DLSR = 0x0005:4000.
    let rtt = round_trip_time(0xb710_8000, 0xb705_2000, 0x0005_4000);
    assert_eq!(rtt, Some(0x0006_2000));
    assert_eq!(
        short_ntp_to_duration(0x0006_2000),
        Duration::from_millis(6125)
    );
    assert_eq!(round_trip_time(0xb710_8000, 0, 0x0005_4000), None);
    assert_eq!(round_trip_time(0xb705_2001, 0xb705_2000, 2), None);
    // Wrap of the 16.16 seconds counter.
    assert_eq!(round_trip_time(0x0000_0010, 0xffff_fff0, 0x10), Some(0x10));
}

#[test]
fn setters() {
    let mut buf = [0u8; 8];
    let mut p = Packet::new_unchecked(&mut buf[..]);
    p.set_version(2);
    p.set_count(31);
    p.set_packet_type(201);
    p.set_length(1);
    p.set_ssrc(9);
    p.set_padding(false);
    assert_eq!(buf, [0x9f, 201, 0, 1, 0, 0, 0, 9]);
    let mut short = [0u8; 2];
    Packet::new_unchecked(&mut short[..]).set_ssrc(1);
    Packet::new_unchecked(&mut short[..]).set_length(1);
    assert_eq!(short, [0, 0]);
}

fn exercise(bytes: &[u8]) {
    let p = Packet::new_unchecked(bytes);
    let _ = (
        p.version(),
        p.padding(),
        p.count(),
        p.packet_type(),
        p.length(),
    );
    let _ = (
        p.packet_len(),
        p.padding_len(),
        p.ssrc(),
        p.body(),
        p.as_bytes(),
    );
    let _ = p.check_len();
    for packet in Compound::new(bytes).flatten() {
        let _ = (packet.body(), packet.ssrc(), packet.view());
    }
    let sr = SenderReport::new_unchecked(bytes);
    let _ = (
        sr.ssrc(),
        sr.ntp_timestamp(),
        sr.rtp_timestamp(),
        sr.packet_count(),
    );
    let _ = (sr.octet_count(), sr.extension(), sr.report_blocks().count());
    for b in sr.report_blocks().chain(ReportBlock::new_checked(bytes)) {
        let _ = ReportBlockRepr::parse(&b);
    }
    let _ = ReportBlockRepr::parse(&ReportBlock::new_unchecked(bytes));
    let rr = ReceiverReport::new_unchecked(bytes);
    let _ = (rr.ssrc(), rr.extension(), rr.report_blocks().count());
    let sdes = Sdes::new_unchecked(bytes);
    let _ = sdes.cname();
    let _ = sdes.chunks().map(|c| c.items().count()).sum::<usize>();
    let bye = Bye::new_unchecked(bytes);
    let _ = (bye.ssrcs().count(), bye.reason());
    let app = App::new_unchecked(bytes);
    let _ = (app.subtype(), app.ssrc(), app.name(), app.data());
    let _ = (
        SenderReport::new_checked(bytes),
        ReceiverReport::new_checked(bytes),
        Sdes::new_checked(bytes),
        Bye::new_checked(bytes),
        App::new_checked(bytes),
    );
}

#[test]
fn unchecked_garbage_never_panics() {
    for bytes in [
        &[][..],
        &[0xff],
        &[0xbf, 202, 0xff, 0xff],
        &[0xff; 40],
        &SR[..30],
    ] {
        exercise(bytes);
    }
    // Mutate every byte of every vector.
    for vector in [&SR[..], &RR, &SDES, &BYE, &APP] {
        for i in 0..vector.len() {
            for v in [0x00, 0x01, 0x1f, 0x7f, 0x80, 0xff] {
                let mut m = vector.to_vec();
                m[i] = v;
                exercise(&m);
            }
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
    #[test]
    fn arbitrary_bytes_never_panic(
        kind in 200u8..=204,
        bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..128),
    ) {
        exercise(&bytes);
        let mut bytes = bytes;
        // Also with a plausible header so the typed checks get past the first gate.
        if bytes.len() >= 4 {
            bytes[0] = 0x80 | (bytes[0] & 0x3f);
            bytes[1] = kind;
            let words = u16::try_from(bytes.len() / 4 - 1).unwrap();
            bytes[2..4].copy_from_slice(&words.to_be_bytes());
            exercise(&bytes);
        }
    }
}
