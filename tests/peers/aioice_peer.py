#!/usr/bin/env python3
"""A full ICE agent (aioice, PyPI) as the customer's media endpoint, for tests/tests/ice_e2e.rs.

The Rust test does the SIP; this process does ICE and RTP over one component (rtcp-mux):
  1. gathers host candidates on 127.0.0.1 only and prints `ufrag U`, `pwd P`, `candidate C`
     lines and `ready`;
  2. reads the SBC's `ufrag`, `pwd` and `candidate` lines from stdin up to `end`;
  3. runs the checks as the controlling agent (aioice nominates the pair) and prints
     `connected <local addr>` or `failed <why>`;
  4. sends 50 RTP packets (SSRC 0xa11ce) 20 ms apart, then counts RTP from the far end
     (SSRC 0xc0de) for RECEIVE_S and prints `received N`, then `done`.
Loopback only, bounded (about 25 s). Exits 0 whatever the outcomes, 2 on a usage error.
"""

import asyncio
import struct
import sys

import aioice
from aioice import ice as aioice_ice

RECEIVE_S = 3.0

# Host candidates on loopback only: nothing of this test leaves the machine.
aioice_ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


def say(*words):
    print(*words, flush=True)


def rtp(seq):
    return struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 0xA11CE) + b"\xd5" * 160


async def main():
    conn = aioice.Connection(ice_controlling=True, components=1, use_ipv4=True, use_ipv6=False)
    await conn.gather_candidates()
    say("ufrag", conn.local_username)
    say("pwd", conn.local_password)
    for c in conn.local_candidates:
        say("candidate", c.to_sdp())
    say("ready")
    loop = asyncio.get_running_loop()
    remote = []
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line or line.strip() == "end":
            break
        remote.append(line.strip())
    for line in remote:
        key, _, value = line.partition(" ")
        if key == "ufrag":
            conn.remote_username = value
        elif key == "pwd":
            conn.remote_password = value
        elif key == "candidate":
            await conn.add_remote_candidate(aioice.Candidate.from_sdp(value))
    await conn.add_remote_candidate(None)
    try:
        await asyncio.wait_for(conn.connect(), 10)
    except Exception as e:  # noqa: BLE001 - reported for the test
        say("failed", type(e).__name__)
        say("done")
        return
    pair = conn._nominated.get(1)  # noqa: SLF001 - the selected pair, for the report
    say("connected", pair.local_candidate.host if pair else "?")
    for seq in range(50):
        await conn.send(rtp(seq))
        await asyncio.sleep(0.02)
    got = 0
    end = loop.time() + RECEIVE_S
    while loop.time() < end:
        try:
            data = await asyncio.wait_for(conn.recv(), end - loop.time())
        except (asyncio.TimeoutError, ConnectionError):
            break
        if len(data) >= 12 and data[0] & 0xC0 == 0x80 and data[8:12] == b"\x00\x00\xc0\xde":
            got += 1
    say("received", got)
    await conn.close()
    say("done")


if __name__ == "__main__":
    if len(sys.argv) != 1:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    asyncio.run(main())
