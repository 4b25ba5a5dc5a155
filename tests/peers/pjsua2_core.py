#!/usr/bin/env python3
"""The core side's UA for the linphone SRTP test (tests/tests/peers_e2e.rs): pjsua2 on plain UDP
at 127.0.0.1:CORE_PORT, SRTP disabled, behind the SBC's core side at SBC_CORE_PORT.

  1. Answers the first call (from the customer's phone through the SBC) with an 1800 Hz tone,
     records what it hears into DIR/core-out.wav until the caller hangs up (at most 10 s).
  2. Then calls sip:USER@example.com through the SBC (reaching the phone on its TLS connection),
     plays the tone and records DIR/core-in.wav for HOLD_S, and hangs up.

It prints `key value` lines for the test: core_ready, core_out_call <state>,
core_out_hears <f700> <f1800>, core_in_call <state>, core_in_hears <f700> <f1800>, core_done.
Usage: pjsua2_core.py SBC_CORE_PORT CORE_PORT USER DIR. Loopback only, bounded (about 40 s);
exits 0 whatever the outcomes, 2 on a usage error.
"""

import os
import sys

import pjsua2 as pj

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pjsua2_srtp as base  # noqa: E402 - the tone party, Goertzel and the event pump
from pjsua2_srtp import Party, Phone, pump, say, tones_in  # noqa: E402

HOLD_S = 4.0


class Call(base.Call):
    """pjsua2_srtp's Call, also noting the disconnect."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.ended = False

    def onCallState(self, prm):
        super().onCallState(prm)
        if self.getInfo().state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.ended = True


base.Call = Call  # Phone.onIncomingCall builds base.Call


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    sbc_core, core_port, user, out_dir = sys.argv[1:5]
    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.logConfig.level = int(os.environ.get("PJ_LOG", "1"))
    cfg.logConfig.consoleLevel = int(os.environ.get("PJ_LOG", "1"))
    cfg.medConfig.noVad = True
    cfg.medConfig.ecTailLen = 0
    ep.libInit(cfg)
    ep.audDevManager().setNullDev()
    tc = pj.TransportConfig()
    tc.boundAddress = "127.0.0.1"
    tc.port = int(core_port)
    tp = ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tc)
    ep.libStart()
    party = Party(base.CORE_HZ, os.path.join(out_dir, "core-out.wav"))
    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:core@127.0.0.1:{core_port}"
    acfg.sipConfig.transportId = tp
    acfg.sipConfig.proxies.append(f"sip:127.0.0.1:{sbc_core};lr")
    acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    acfg.mediaConfig.transportConfig.port = 0
    acfg.mediaConfig.srtpUse = pj.PJMEDIA_SRTP_DISABLED
    core = Phone(party)
    core.create(acfg)
    say("core_ready")
    pump(ep, lambda: core.calls, 20)
    if core.calls:
        c = core.calls[0]
        pump(ep, lambda: c.ended, 10)
        say("core_out_call", c.state or "TIMEOUT")
    else:
        say("core_out_call", "NONE")
    party.stop()
    pump(ep, lambda: False, 0.3)
    say("core_out_hears", *("%.1f" % p for p in tones_in(party.wav)))
    pump(ep, lambda: False, 1.0)
    party.wav = os.path.join(out_dir, "core-in.wav")
    call = Call(core, party)
    call.makeCall(f"sip:{user}@example.com", pj.CallOpParam(True))
    pump(ep, lambda: call.state is not None, 10)
    say("core_in_call", call.state or "TIMEOUT")
    if call.state == "CONFIRMED":
        pump(ep, lambda: call.ended, HOLD_S)
        if not call.ended:
            try:
                call.hangup(pj.CallOpParam())
            except Exception:  # noqa: BLE001 - already gone
                pass
        pump(ep, lambda: False, 0.5)
    party.stop()
    pump(ep, lambda: False, 0.3)
    say("core_in_hears", *("%.1f" % p for p in tones_in(party.wav)))
    say("core_done")
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
