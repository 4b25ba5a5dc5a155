#!/usr/bin/env python3
"""Writes the generated seed inputs under seeds/ (run from fuzz/: python3 make_seeds.py).

seeds/sip_message/ holds copies of tests/vectors/sip/*.sip and benches/data/*.sip and is
not written here. This script makes the seeds whose inputs carry a control prefix
(sip_framer, sdp) or are binary (rtp_rtcp); see each target's doc comment for the layout.
"""

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def write(target, name, data):
    path = os.path.join(HERE, "seeds", target, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def read(rel):
    with open(os.path.join(ROOT, rel), "rb") as f:
        return f.read()


def crlf(s):
    return s.replace("\n", "\r\n").encode()


# ---- sip_framer: [n-1][limit][n chunk sizes - 1][stream]

OPTIONS = crlf(
    "OPTIONS sip:a@b SIP/2.0\n"
    "Via: SIP/2.0/TCP h;branch=z9hG4bK1\n"
    "From: <sip:x@y>;tag=1\nTo: <sip:a@b>\nCall-ID: c1\nCSeq: 1 OPTIONS\n"
    "Content-Length: 5\n\nhello"
)
OK = b"SIP/2.0 200 OK\r\nl: 0\r\n\r\n"
invite = read("benches/data/invite.sip")
register = read("benches/data/register.sip")

write("sip_framer", "keepalives", bytes([0, 255, 3]) + b"\r\n\r\n" + OPTIONS + OK + b"\r\n" + OPTIONS)
write("sip_framer", "bytewise", bytes([0, 255, 0]) + invite + b"\r\n\r\n" + OK)
write("sip_framer", "mixed", bytes([3, 64, 0, 6, 40, 200]) + register + OK + b"\n\n" + invite)
write("sip_framer", "bare_lf", bytes([1, 20, 9, 17]) + OPTIONS.replace(b"\r\n", b"\n") + OK)
write("sip_framer", "too_large", bytes([0, 0, 31]) + invite)
write("sip_framer", "no_length", bytes([0, 255, 100]) + b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n")

# ---- sdp: [n][n x (op, arg)][body]

PHONE_OFFER = """v=0
o=- 20518 0 IN IP4 192.0.2.50
s=SDP data
c=IN IP4 192.0.2.50
t=0 0
m=audio 11780 RTP/AVP 0 8 18 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:18 G729/8000
a=fmtp:18 annexb=no
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=ptime:20
a=sendrecv
"""

AUDIO_VIDEO_OFFER = """v=0
o=user1 53655765 2353687637 IN IP4 192.0.2.10
s=Talk
c=IN IP4 192.0.2.10
b=AS:2048
t=0 0
a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics
m=audio 7078 RTP/AVP 96 97 0 8 101
a=rtpmap:96 opus/48000/2
a=fmtp:96 useinbandfec=1
a=rtpmap:97 speex/16000
a=rtpmap:101 telephone-event/8000
m=video 9078 RTP/AVP 96 97
b=AS:1920
a=rtpmap:96 VP8/90000
a=rtpmap:97 H264/90000
a=fmtp:97 profile-level-id=42801F; packetization-mode=1
a=rtcp-fb:* nack pli
a=rtcp-fb:96 ccm fir
a=rtcp-fb:97 nack
a=recvonly
"""

RTCP_OFFER = """v=0
o=- 3849302 3849302 IN IP4 192.0.2.20
s=-
t=0 0
m=audio 40000 RTP/AVP 8 0 101
c=IN IP4 192.0.2.20
a=rtcp:40001 IN IP4 192.0.2.21
a=rtcp-mux
a=rtpmap:8 PCMA/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=ptime:20
"""

ICE_OFFER = """v=0
o=- 1634 1635 IN IP4 198.51.100.7
s=Asterisk
c=IN IP4 198.51.100.7
t=0 0
a=setup:actpass
a=ice-lite
m=audio 18230 RTP/SAVP 0 8 101
a=ice-ufrag:2a6f1ae84c1b7a2c
a=ice-pwd:3c1a7d8e5f4a2b1c9d8e7f6a5b4c3d2e
a=candidate:Hc633640701 1 UDP 2130706431 198.51.100.7 18230 typ host
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4
a=rtpmap:101 telephone-event/8000
a=sendonly
m=image 0 udptl t38
"""

IPV6_LF_NO_FINAL_NEWLINE = (
    "v=0\no=bob 2808844564 2808844564 IN IP6 2001:db8::2\ns=-\nc=IN IP6 2001:db8::2\n"
    "t=0 0\nm=audio 49172 RTP/AVP 0 101\na=rtpmap:101 telephone-event/8000\na=maxptime:150"
).encode()


def ops(*pairs):
    flat = [b for pair in pairs for b in pair]
    return bytes([len(pairs)] + flat)


write("sdp", "phone_no_ops", ops() + crlf(PHONE_OFFER))
# connection, port, rtcp, direction, bump
write("sdp", "phone_relay", ops((0, 0), (6, 0x05), (7, 0x06), (8, 0x01), (3, 0)) + crlf(PHONE_OFFER))
# retain some payload types, reject video, add/remove attributes
write("sdp", "av_codecs", ops((9, 0x05), (0x49, 0x01), (10, 0x01), (13, 0x04), (14, 0x0C)) + crlf(AUDIO_VIDEO_OFFER))
write("sdp", "rtcp_transport", ops((11, 0x44), (12, 0x83), (2, 0x40), (4, 7)) + crlf(RTCP_OFFER))
write("sdp", "ice_hold", ops((5, 0x03), (15, 0x86), (15, 0x08), (1, 0xC0)) + crlf(ICE_OFFER))
write("sdp", "ipv6_lf", ops((13, 0x00), (0, 0x40)) + IPV6_LF_NO_FINAL_NEWLINE)
write("sdp", "bench_offer", ops((0, 0), (6, 4), (3, 0)) + read("benches/data/offer.sdp"))

# ---- rtp_rtcp: raw datagrams


def rtp(pt=0, seq=1, ts=160, ssrc=0x11223344, marker=False, csrcs=(), ext=None, payload=b"\xff" * 160, pad=0):
    first = 0x80 | (0x20 if pad else 0) | (0x10 if ext else 0) | len(csrcs)
    out = struct.pack("!BBHII", first, (0x80 if marker else 0) | pt, seq, ts, ssrc)
    for c in csrcs:
        out += struct.pack("!I", c)
    if ext:
        profile, data = ext
        out += struct.pack("!HH", profile, len(data) // 4) + data
    out += payload
    if pad:
        out += b"\x00" * (pad - 1) + bytes([pad])
    return out


def rtcp_header(count, pt, body):
    assert len(body) % 4 == 0
    return struct.pack("!BBH", 0x80 | count, pt, len(body) // 4) + body


def block(ssrc, lost=5):
    return struct.pack("!IIIIII", ssrc, (0x10 << 24) | lost, 0x1_0010, 17, 0xB7052000, 0x54000)


SR = rtcp_header(1, 200, struct.pack("!IQIII", 0x11223344, 0xE1E2E3E4_80000000, 160, 10, 1600) + block(0x55667788))
RR = rtcp_header(2, 201, struct.pack("!I", 0x55667788) + block(0x11223344) + block(0x99AABBCC, 0xFFFFFF))
cname = b"user@host"
SDES = rtcp_header(1, 202, struct.pack("!IBB", 0x11223344, 1, len(cname)) + cname + b"\x00" * 1)
BYE = rtcp_header(1, 203, struct.pack("!I", 0x11223344) + bytes([3]) + b"bye")
APP = rtcp_header(5, 204, struct.pack("!I", 0x11223344) + b"NAME" + b"data")

STUN_REQUEST = bytes.fromhex(
    "000100582112a442b7e7a701bc34d686fa87dfae"
    "802200105354554e207465737420636c69656e74"
    "002400046e0001ff"
    "80290008932ff9b151263b36"
    "000600096576746a3a68367659202020"
    "000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a2"
    "80280004e57a3bcf"
)

write("rtp_rtcp", "rtp_pcmu", rtp())
write("rtp_rtcp", "rtp_csrc_ext_pad", rtp(pt=96, marker=True, csrcs=(1, 2), ext=(0xBEDE, b"\x10\xaa\x00\x00"), payload=b"abc", pad=5))
write("rtp_rtcp", "rtcp_sr_sdes", SR + SDES)
write("rtp_rtcp", "rtcp_rr_bye", RR + BYE)
write("rtp_rtcp", "rtcp_app", APP)
write("rtp_rtcp", "stun_binding", STUN_REQUEST)
# Sequence/timestamp records for the stats part: 10 bytes each (seq, ts, arrival).
records = b"".join(struct.pack("!HII", s & 0xFFFF, 160 * i, 160 * i + (i * 37) % 50) for i, s in enumerate([65533, 65534, 65535, 0, 1, 3, 2, 2, 4000, 4001, 5]))
write("rtp_rtcp", "seq_records", records)
