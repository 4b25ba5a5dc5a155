#!/usr/bin/env python3
"""A real pjsip phone with SRTP over TLS, and a plain-RTP core UA, for tests/tests/peers_e2e.rs.

One process plays two parties on loopback:
  * the customer's phone: TLS 1.2 to the SBC's customer side (verifying its certificate against
    CA), SRTP mandatory (SDES), registers USER/PASSWORD with digest;
  * the core's UA: plain UDP at CORE_PORT (the SBC's route next hop), SRTP disabled.

Two calls, each with a tone both ways recorded at the other end: first the phone calls
sip:bob@example.com (reaching the core UA through the SBC), then the core UA calls
sip:USER@example.com through the SBC's core side at SBC_CORE_PORT (reaching the phone on its
TLS connection). The phone sends 700 Hz, the core UA 1800 Hz; each party records what it
hears, and the script measures both tones in each recording (Goertzel).

It prints one line per outcome, `key value`, for the Rust test to assert on:
  register <code>
  out_call <state> / in_call <state>      CONFIRMED when the call was up
  out_srtp <0|1> / in_srtp <0|1>           whether the phone's media was SRTP (pjsua2's view)
  out_phone_hears <f700> <f1800>           tone powers (relative) in the phone's recording
  out_core_hears <f700> <f1800>            ... in the core UA's recording; same for in_*
  done

Usage: pjsua2_srtp.py SBC_TLS_PORT SBC_CORE_PORT CORE_PORT USER PASSWORD CA DIR
Loopback only. Exits 0 whatever the outcomes (the test judges them), 2 on a usage error.
"""

import math
import os
import sys
import time
import wave

import pjsua2 as pj

TIMEOUT_S = 8.0
TONE_S = 2.5
PHONE_HZ = 700
CORE_HZ = 1800


def say(key, *values):
    print(key, *values, flush=True)


def goertzel(samples, rate, freq):
    """Relative power of `freq` in `samples` (mean square of the Goertzel output)."""
    k = 2.0 * math.cos(2.0 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for x in samples:
        s0 = x + k * s1 - s2
        s2, s1 = s1, s0
    power = s1 * s1 + s2 * s2 - k * s1 * s2
    return power / max(len(samples), 1) ** 2


def tones_in(path):
    """(power at 700 Hz, power at 1800 Hz) of the second half-second onwards of a WAV."""
    try:
        with wave.open(path, "rb") as w:
            rate = w.getframerate()
            raw = w.readframes(w.getnframes())
    except (OSError, wave.Error, EOFError):
        return (0.0, 0.0)
    n = len(raw) // 2
    samples = [int.from_bytes(raw[2 * i : 2 * i + 2], "little", signed=True) for i in range(n)]
    samples = samples[rate // 2 :]
    if not samples:
        return (0.0, 0.0)
    return (goertzel(samples, rate, PHONE_HZ), goertzel(samples, rate, CORE_HZ))


class Party:
    """What one side of a call plays and records."""

    def __init__(self, freq, wav):
        self.freq = freq
        self.wav = wav
        self.tone = None
        self.recorder = None

    def connect(self, call):
        info = call.getInfo()  # kept alive: the media entries point into it
        for i, mi in enumerate(info.media):
            if mi.type != pj.PJMEDIA_TYPE_AUDIO or mi.status != pj.PJSUA_CALL_MEDIA_ACTIVE:
                continue
            am = call.getAudioMedia(i)
            if self.tone is None:
                self.tone = pj.ToneGenerator()
                self.tone.createToneGenerator()
                desc = pj.ToneDesc()
                desc.freq1 = self.freq
                desc.freq2 = 0
                desc.on_msec = 10000
                desc.off_msec = 0
                desc.volume = 0
                tones = pj.ToneDescVector()
                tones.append(desc)
                self.tone.play(tones, True)
                self.recorder = pj.AudioMediaRecorder()
                self.recorder.createRecorder(self.wav)
            self.tone.startTransmit(am)
            am.startTransmit(self.recorder)

    def stop(self):
        self.tone = None
        self.recorder = None


class Call(pj.Call):
    def __init__(self, acc, party, call_id=pj.PJSUA_INVALID_ID):
        super().__init__(acc, call_id)
        self.party = party
        self.state = None
        self.srtp = 0

    def onCallState(self, prm):
        ci = self.getInfo()
        if ci.state == pj.PJSIP_INV_STATE_CONFIRMED:
            self.state = "CONFIRMED"
        elif ci.state == pj.PJSIP_INV_STATE_DISCONNECTED and self.state is None:
            self.state = f"DISCONNECTED-{ci.lastStatusCode}"

    def onCallMediaState(self, prm):
        try:
            self.party.connect(self)
        except Exception as e:  # noqa: BLE001 - reported for the test, never fatal
            say("error", repr(e).replace(" ", "_"))
        try:
            si = self.getStreamInfo(0)
            secure = (pj.PJMEDIA_TP_PROTO_RTP_SAVP, pj.PJMEDIA_TP_PROTO_RTP_SAVPF)
            self.srtp = 1 if si.proto in secure else 0
        except Exception:  # noqa: BLE001 - no stream: unknown, reported as 0
            pass


class Phone(pj.Account):
    def __init__(self, party):
        super().__init__()
        self.reg = None
        self.party = party
        self.calls = []

    def onRegState(self, prm):
        if prm.code >= 200 and self.reg is None:
            self.reg = prm.code

    def onIncomingCall(self, prm):
        call = Call(self, self.party, prm.callId)
        self.calls.append(call)
        op = pj.CallOpParam()
        op.statusCode = 200
        call.answer(op)


def pump(ep, until, timeout=TIMEOUT_S):
    end = time.time() + timeout
    while time.time() < end and not until():
        ep.libHandleEvents(20)


def run_call(ep, name, caller_acc, caller_party, callee, callee_party, uri):
    call = Call(caller_acc, caller_party)
    call.makeCall(uri, pj.CallOpParam(True))
    pump(ep, lambda: call.state is not None)
    say(f"{name}_call", call.state or "TIMEOUT")
    if call.state == "CONFIRMED":
        pump(ep, lambda: False, TONE_S)
        incoming = callee.calls[-1] if callee.calls else None
        phone_call = call if caller_party.freq == PHONE_HZ else incoming
        say(f"{name}_srtp", phone_call.srtp if phone_call else 0)
        call.hangup(pj.CallOpParam())
        pump(ep, lambda: False, 0.5)
    caller_party.stop()
    callee_party.stop()
    pump(ep, lambda: False, 0.3)


def main():
    args = sys.argv[1:]
    if len(args) != 7:
        print(__doc__, file=sys.stderr)
        return 2
    sbc_tls, sbc_core, core_port, user, password, ca, out_dir = args

    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.uaConfig.userAgent = "pjsua2-e2e"
    cfg.logConfig.level = int(os.environ.get("PJ_LOG", "1"))
    cfg.logConfig.consoleLevel = int(os.environ.get("PJ_LOG", "1"))
    cfg.medConfig.noVad = True
    cfg.medConfig.ecTailLen = 0
    ep.libInit(cfg)
    ep.audDevManager().setNullDev()

    tcfg = pj.TransportConfig()
    tcfg.boundAddress = "127.0.0.1"
    tcfg.port = 0
    tcfg.tlsConfig.CaListFile = ca
    tcfg.tlsConfig.verifyServer = True
    tcfg.tlsConfig.method = pj.PJSIP_TLSV1_2_METHOD
    phone_tp = ep.transportCreate(pj.PJSIP_TRANSPORT_TLS, tcfg)
    core_cfg = pj.TransportConfig()
    core_cfg.boundAddress = "127.0.0.1"
    core_cfg.port = int(core_port)
    core_tp = ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, core_cfg)
    ep.libStart()

    phone_party = Party(PHONE_HZ, os.path.join(out_dir, "phone.wav"))
    core_party = Party(CORE_HZ, os.path.join(out_dir, "core.wav"))

    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:{user}@example.com"
    acfg.regConfig.registrarUri = "sip:example.com;transport=tls"
    acfg.regConfig.timeoutSec = 300
    acfg.sipConfig.proxies.append(f"sip:127.0.0.1:{sbc_tls};transport=tls;lr")
    acfg.sipConfig.transportId = phone_tp
    acfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", user, 0, password))
    acfg.natConfig.sipStunUse = pj.PJSUA_STUN_USE_DISABLED
    acfg.natConfig.mediaStunUse = pj.PJSUA_STUN_USE_DISABLED
    acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    acfg.mediaConfig.transportConfig.port = 0
    acfg.mediaConfig.srtpUse = pj.PJMEDIA_SRTP_MANDATORY
    acfg.mediaConfig.srtpSecureSignaling = 1
    phone = Phone(phone_party)
    phone.create(acfg)

    ccfg = pj.AccountConfig()
    ccfg.idUri = f"sip:core@127.0.0.1:{core_port}"
    ccfg.sipConfig.transportId = core_tp
    ccfg.sipConfig.proxies.append(f"sip:127.0.0.1:{sbc_core};lr")
    ccfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    ccfg.mediaConfig.transportConfig.port = 0
    ccfg.mediaConfig.srtpUse = pj.PJMEDIA_SRTP_DISABLED
    core = Phone(core_party)
    core.create(ccfg)

    pump(ep, lambda: phone.reg is not None)
    say("register", phone.reg or 0)
    if phone.reg == 200:
        run_call(ep, "out", phone, phone_party, core, core_party, "sip:bob@example.com")
        for who in ("phone", "core"):
            p7, p18 = tones_in(os.path.join(out_dir, f"{who}.wav"))
            say(f"out_{who}_hears", f"{p7:.1f}", f"{p18:.1f}")
        phone_party.wav = os.path.join(out_dir, "phone-in.wav")
        core_party.wav = os.path.join(out_dir, "core-in.wav")
        run_call(ep, "in", core, core_party, phone, phone_party, f"sip:{user}@example.com")
        for who in ("phone", "core"):
            p7, p18 = tones_in(os.path.join(out_dir, f"{who}-in.wav"))
            say(f"in_{who}_hears", f"{p7:.1f}", f"{p18:.1f}")
    say("done")
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
