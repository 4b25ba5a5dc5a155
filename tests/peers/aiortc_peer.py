#!/usr/bin/env python3
"""A scriptable WebRTC peer (aiortc, PyPI) for tests/tests/webrtc_e2e.rs.

The Rust test does the SIP; this process is the browser's media stack:
  1. makes an offer with an audio and a video track (BUNDLE offered, rtcp-mux, DTLS
     actpass, host candidates on 127.0.0.1 only) and prints it as `offer <base64 SDP>`;
     with --wrong-fingerprint the offer's a=fingerprint names another certificate;
  2. reads `answer <base64 SDP>` from stdin and applies it;
  3. sends media for MEDIA_S seconds and prints the transport's DTLS state and what its
     receivers and senders counted: `dtls <state>`, `transports N` (1 when the answer
     accepted BUNDLE), `audio_rx N`, `video_rx N`, `audio_tx N`,
     `video_tx N`, then `done`.
Loopback only, bounded (about 20 s). Exits 0 whatever the outcomes, 2 on a usage error.
"""

import asyncio
import base64
import re
import sys

from aioice import ice as aioice_ice
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

MEDIA_S = 4.0

# Host candidates on loopback only: nothing of this test leaves the machine.
aioice_ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


def say(*words):
    print(*words, flush=True)


def wrong_fingerprint(sdp):
    """The offer with every fingerprint's first byte flipped: a certificate nobody has."""

    def flip(m):
        first = int(m.group(2), 16) ^ 0xFF
        return f"{m.group(1)}{first:02X}"

    return re.sub(r"(a=fingerprint:sha-256 )([0-9A-Fa-f]{2})", flip, sdp)


async def counts(pc):
    out = {"audio_rx": 0, "video_rx": 0, "audio_tx": 0, "video_tx": 0}
    for t in pc.getTransceivers():
        kind = t.kind
        for s in (await t.receiver.getStats()).values():
            if s.type == "inbound-rtp":
                out[f"{kind}_rx"] += s.packetsReceived
        for s in (await t.sender.getStats()).values():
            if s.type == "outbound-rtp":
                out[f"{kind}_tx"] += s.packetsSent
    return out


async def main():
    args = sys.argv[1:]
    if any(a not in ("--wrong-fingerprint",) for a in args):
        print(__doc__, file=sys.stderr)
        return 2
    pc = RTCPeerConnection()
    pc.addTrack(AudioStreamTrack())
    pc.addTrack(VideoStreamTrack())
    sinks = []

    @pc.on("track")
    def on_track(track):
        async def drain():
            try:
                while True:
                    await track.recv()
            except Exception:  # noqa: BLE001 - the track ended
                pass

        sinks.append(asyncio.ensure_future(drain()))

    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    if "--wrong-fingerprint" in args:
        sdp = wrong_fingerprint(sdp)
    say("offer", base64.b64encode(sdp.encode()).decode())
    loop = asyncio.get_running_loop()
    line = await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.readline), 15)
    key, _, value = line.strip().partition(" ")
    if key != "answer":
        say("error", "no-answer")
        say("done")
        return 0
    answer = base64.b64decode(value).decode()
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    await asyncio.sleep(MEDIA_S)
    transports = {id(t.sender.transport): t.sender.transport for t in pc.getTransceivers() if t.sender.transport}
    states = sorted({tr.state for tr in transports.values()})
    say("dtls", ",".join(states) or "none")
    say("transports", len(transports))
    for k, v in (await counts(pc)).items():
        say(k, v)
    say("done")
    for s in sinks:
        s.cancel()
    try:
        await asyncio.wait_for(pc.close(), 3)
    except Exception:  # noqa: BLE001 - closing is best effort
        pass
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
