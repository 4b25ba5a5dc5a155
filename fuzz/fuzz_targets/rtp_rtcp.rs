//! Media-plane views on arbitrary datagrams: RTP, RTCP (compound iteration and typed
//! views), STUN and the RFC 7983 demultiplexer. Every accessor must be panic-free on checked
//! and unchecked views alike; a checked packet must round-trip through its `Repr`. The
//! input is also read as a stream of (sequence number, RTP timestamp, arrival) records for
//! `SeqTracker` and `Jitter`, which must never overflow or panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sbc_common::demux::{self, PacketKind};
use sbc_common::rtcp::{
    self, App, AppRepr, Bye, ByeRepr, Compound, ReceiverReport, ReceiverReportRepr,
    ReportBlockRepr, ReportBlocks, RtcpPacket, Sdes, SenderReport, SenderReportRepr,
};
use sbc_common::rtpstats::{Jitter, SeqTracker};
use sbc_common::{rtp, stun};

fuzz_target!(|data: &[u8]| {
    classify(data);
    rtp_views(data);
    rtcp_views(data);
    stun_views(data);
    stats(data);
});

fn classify(data: &[u8]) {
    let kind = demux::classify(data);
    match data {
        [] => assert_eq!(kind, PacketKind::Unknown),
        [first, rest @ ..] => {
            let by_first = demux::classify_first_byte(*first);
            match kind {
                PacketKind::Rtp | PacketKind::Rtcp => {
                    assert_eq!(by_first, demux::FirstByte::RtpOrRtcp);
                    let second = *rest.first().expect("RTP/RTCP needs two bytes");
                    let rtcp = demux::rtp_or_rtcp(second) == demux::RtpOrRtcp::Rtcp;
                    assert_eq!(rtcp, kind == PacketKind::Rtcp);
                }
                PacketKind::Stun => assert_eq!(by_first, demux::FirstByte::Stun),
                _ => {}
            }
        }
    }
}

fn rtp_views(data: &[u8]) {
    // Unchecked view over garbage: every accessor answers something.
    let p = rtp::Packet::new_unchecked(data);
    read_rtp(&p);

    let Ok(p) = rtp::Packet::new_checked(data) else {
        return;
    };
    read_rtp(&p);
    assert!(p.header_len() <= data.len(), "checked header past the end");
    let repr = rtp::Repr::parse(&p).expect("Repr::parse of a checked packet");
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(&mut buf).expect("emit of a parsed Repr");
    let p2 = rtp::Packet::new_checked(&buf[..]).expect("emitted packet checks");
    let repr2 = rtp::Repr::parse(&p2).expect("emitted packet parses");
    assert_eq!(repr2, repr, "RTP Repr round trip");

    // Setters on a copy take effect (the buffer holds at least the fixed header).
    let mut owned = rtp::Packet::new_unchecked(data.to_vec());
    owned.set_sequence_number(repr.sequence_number.wrapping_add(1));
    owned.set_timestamp(!repr.timestamp);
    owned.set_marker(!repr.marker);
    assert_eq!(
        owned.sequence_number(),
        repr.sequence_number.wrapping_add(1)
    );
    assert_eq!(owned.timestamp(), !repr.timestamp);
    assert_eq!(owned.marker(), !repr.marker);
    let _ = owned.payload_mut().len();
}

fn read_rtp<T: AsRef<[u8]>>(p: &rtp::Packet<T>) {
    let _ = (
        p.version(),
        p.padding(),
        p.extension(),
        p.csrc_count(),
        p.marker(),
    );
    let _ = (
        p.payload_type(),
        p.sequence_number(),
        p.timestamp(),
        p.ssrc(),
    );
    let _ = (
        p.csrcs().count(),
        p.header_len(),
        p.padding_len(),
        p.payload().len(),
    );
    if let Some(ext) = p.header_extension() {
        assert_eq!(ext.data.len() % 4, 0);
    }
    let _ = (p.check_len(), p.as_bytes().len());
}

fn rtcp_views(data: &[u8]) {
    let _ = Compound::validate(data);
    let mut total = 0;
    for packet in Compound::new(data) {
        let Ok(packet) = packet else { break };
        total += packet.as_bytes().len();
        read_rtcp_header(&packet);
        if let Ok(view) = packet.view() {
            read_typed(&view);
        }
    }
    assert!(total <= data.len(), "compound packets past the datagram");

    // The first packet only, and every typed view unchecked on the raw bytes.
    if let Ok(view) = RtcpPacket::parse(data) {
        read_typed(&view);
    }
    read_rtcp_header(&rtcp::Packet::new_unchecked(data));
    read_sr(&SenderReport::new_unchecked(data));
    read_rr(&ReceiverReport::new_unchecked(data));
    read_sdes(&Sdes::new_unchecked(data));
    read_bye(&Bye::new_unchecked(data));
    read_app(&App::new_unchecked(data));

    // RTT helpers on input-derived values.
    let word = |i: usize| {
        data.get(i..i + 4)
            .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let _ = rtcp::round_trip_time(word(0), word(4), word(8));
    let _ = rtcp::short_ntp_to_duration(word(12));
    let _ = rtcp::ntp_middle_32(u64::from(word(0)) << 32 | u64::from(word(4)));
}

fn read_rtcp_header<T: AsRef<[u8]>>(p: &rtcp::Packet<T>) {
    let _ = (
        p.version(),
        p.padding(),
        p.count(),
        p.packet_type(),
        p.length(),
    );
    let _ = (p.packet_len(), p.padding_len(), p.ssrc(), p.body().len());
    let _ = (p.check_len(), p.as_bytes().len());
}

fn read_blocks(blocks: ReportBlocks<'_>) -> Vec<ReportBlockRepr> {
    blocks
        .map(|b| {
            let repr = ReportBlockRepr::parse(&b);
            let _ = (b.ssrc(), b.fraction_lost(), b.cumulative_lost(), b.jitter());
            let _ = (
                b.extended_highest_seq(),
                b.last_sr(),
                b.delay_since_last_sr(),
            );
            repr
        })
        .collect()
}

fn read_sr(sr: &SenderReport<'_>) -> Vec<ReportBlockRepr> {
    let _ = (
        sr.count(),
        sr.ssrc(),
        sr.ntp_timestamp(),
        sr.rtp_timestamp(),
    );
    let _ = (sr.packet_count(), sr.octet_count(), sr.extension().len());
    read_blocks(sr.report_blocks())
}

fn read_rr(rr: &ReceiverReport<'_>) -> Vec<ReportBlockRepr> {
    let _ = (rr.count(), rr.ssrc(), rr.extension().len());
    read_blocks(rr.report_blocks())
}

fn read_sdes(sdes: &Sdes<'_>) {
    let _ = (sdes.count(), sdes.cname());
    for chunk in sdes.chunks() {
        let _ = chunk.ssrc;
        for item in chunk.items() {
            let _ = (item.kind, item.value.len());
        }
    }
}

fn read_bye(bye: &Bye<'_>) {
    let _ = (bye.count(), bye.ssrcs().count(), bye.reason());
}

fn read_app(app: &App<'_>) {
    let _ = (app.subtype(), app.ssrc(), app.name(), app.data().len());
}

/// Reads a checked typed view, and for SR, RR, BYE and APP emits it again from its `Repr`
/// and checks the copy reads back the same.
fn read_typed(view: &RtcpPacket<'_>) {
    match view {
        RtcpPacket::SenderReport(sr) => {
            let blocks = read_sr(sr);
            assert_eq!(blocks.len(), sr.count(), "checked SR lacks blocks");
            let repr = SenderReportRepr {
                ssrc: sr.ssrc(),
                ntp_timestamp: sr.ntp_timestamp(),
                rtp_timestamp: sr.rtp_timestamp(),
                packet_count: sr.packet_count(),
                octet_count: sr.octet_count(),
                report_blocks: &blocks,
            };
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut buf).expect("SR emit");
            let copy = SenderReport::new_checked(&buf).expect("emitted SR checks");
            assert_eq!(read_sr(&copy), blocks);
            assert_eq!(
                (copy.ssrc(), copy.ntp_timestamp(), copy.rtp_timestamp()),
                (repr.ssrc, repr.ntp_timestamp, repr.rtp_timestamp)
            );
            assert_eq!(
                (copy.packet_count(), copy.octet_count()),
                (repr.packet_count, repr.octet_count)
            );
        }
        RtcpPacket::ReceiverReport(rr) => {
            let blocks = read_rr(rr);
            assert_eq!(blocks.len(), rr.count(), "checked RR lacks blocks");
            let repr = ReceiverReportRepr {
                ssrc: rr.ssrc(),
                report_blocks: &blocks,
            };
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut buf).expect("RR emit");
            let copy = ReceiverReport::new_checked(&buf).expect("emitted RR checks");
            assert_eq!(read_rr(&copy), blocks);
            assert_eq!(copy.ssrc(), repr.ssrc);
        }
        RtcpPacket::SourceDescription(sdes) => {
            read_sdes(sdes);
            assert_eq!(
                sdes.chunks().count(),
                sdes.count(),
                "checked SDES lacks chunks"
            );
        }
        RtcpPacket::Goodbye(bye) => {
            read_bye(bye);
            let ssrcs: Vec<u32> = bye.ssrcs().collect();
            assert_eq!(ssrcs.len(), bye.count(), "checked BYE lacks sources");
            let repr = ByeRepr {
                ssrcs: &ssrcs,
                reason: bye.reason(),
            };
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut buf).expect("BYE emit");
            let copy = Bye::new_checked(&buf).expect("emitted BYE checks");
            assert_eq!(copy.ssrcs().collect::<Vec<_>>(), ssrcs);
            assert_eq!(copy.reason(), repr.reason);
        }
        RtcpPacket::App(app) => {
            read_app(app);
            let repr = AppRepr {
                subtype: app.subtype(),
                ssrc: app.ssrc(),
                name: app.name(),
                data: app.data(),
            };
            let mut buf = vec![0u8; repr.buffer_len()];
            // Data that is not a multiple of 4 bytes (possible after padding removal)
            // cannot be emitted; that is an error, not a panic.
            if repr.emit(&mut buf).is_ok() {
                let copy = App::new_checked(&buf).expect("emitted APP checks");
                assert_eq!(
                    (copy.subtype(), copy.ssrc(), copy.name(), copy.data()),
                    (repr.subtype, repr.ssrc, repr.name, repr.data)
                );
            }
        }
        RtcpPacket::Other(p) => read_rtcp_header(p),
    }
}

fn stun_views(data: &[u8]) {
    let unchecked = stun::Packet::new_unchecked(data);
    read_stun(&unchecked);
    let is_stun = stun::is_stun(data);
    if let Ok(p) = stun::Packet::new_checked(data) {
        assert!(is_stun, "checked STUN packet not recognised by is_stun");
        read_stun(&p);
        // A checked packet's attributes exactly fill the body.
        let body: usize = p
            .attributes()
            .map(|a| 4 + a.value.len().next_multiple_of(4))
            .sum();
        assert_eq!(
            stun::HEADER_LEN + body,
            data.len(),
            "attributes do not fill body"
        );
    }
    let raw = data
        .first_chunk::<2>()
        .map_or(0, |b| u16::from_be_bytes(*b));
    let t = stun::MessageType::from_u16(raw);
    assert_eq!(t.to_u16(), raw & 0x3fff, "MessageType round trip");
}

fn read_stun<T: AsRef<[u8]>>(p: &stun::Packet<T>) {
    let _ = (
        p.message_type_raw(),
        p.message_type(),
        p.class(),
        p.method(),
    );
    let _ = (p.is_binding_request(), p.length(), p.magic_cookie());
    let _ = (p.transaction_id(), p.check_len());
    for a in p.attributes() {
        let _ = (a.kind, a.value.len());
    }
    let _ = p.attribute(stun::attr::USERNAME);
    let _ = p.attribute(stun::attr::FINGERPRINT);
}

/// Reads the input as 10-byte records (seq u16, timestamp u32, arrival u32).
fn stats(data: &[u8]) {
    let min_sequential = data.first().map_or(2, |b| u32::from(b % 4));
    let mut default = SeqTracker::new();
    let mut custom = SeqTracker::with_min_sequential(min_sequential);
    let mut jitter = Jitter::new();
    for (i, rec) in data.chunks_exact(10).enumerate() {
        let seq = u16::from_be_bytes([rec[0], rec[1]]);
        let ts = u32::from_be_bytes([rec[2], rec[3], rec[4], rec[5]]);
        let arrival = u32::from_be_bytes([rec[6], rec[7], rec[8], rec[9]]);
        for t in [&mut default, &mut custom] {
            let _ = t.update_seq(seq);
            let lost = t.lost();
            assert!((-0x80_0000..=0x7f_ffff).contains(&lost), "lost {lost}");
            let _ = (t.is_valid(), t.max_seq(), t.cycles(), t.extended_max_seq());
            let _ = (t.base_seq(), t.received(), t.expected());
            if i % 7 == 6 {
                let _ = t.take_interval();
            }
        }
        jitter.update(ts, arrival);
        assert_eq!(
            u64::from(jitter.jitter()),
            (jitter.jitter_q4() >> 4).min(u64::from(u32::MAX))
        );
    }
    let _ = default.take_interval();
    let _ = custom.take_interval();
}
