#!/usr/bin/env python3
"""A real pjsip phone (pjsua2) for the end-to-end tests, driven by tests/tests/peers_e2e.rs.

One process plays two parties on loopback:
  * the customer's phone: registers USER/PASSWORD with the SBC's customer side over TRANSPORT
    (digest, whichever algorithm pjsip picks from the challenges), calls sip:bob@example.com
    through the SBC, then sends an in-dialog INFO and MESSAGE and an out-of-dialog MESSAGE;
  * the core's UA: listens on TRANSPORT at CORE_PORT (the SBC's route next hop) and answers
    every call with 200.

It prints one line per outcome, `key value`, for the Rust test to assert on:
  register <code>            final REGISTER status (0: none within the timeout)
  call <state>               CONFIRMED when both legs are up
  info <code> / message <code> / ood_message <code>   final status of each request
  done

Usage: pjsua2_ua.py SBC_PORT CORE_PORT TRANSPORT USER PASSWORD [--no-call] [--ca=FILE]
  TRANSPORT: udp, tcp, or tls (the phone verifies the SBC's certificate against FILE; the core
  UA then listens on UDP).
Loopback only. Exits 0 whatever the outcomes (the test judges them), 2 on a usage error.
"""

import sys
import time

import pjsua2 as pj

TIMEOUT_S = 8.0


class Outcomes:
    def __init__(self):
        self.values = {}

    def set(self, key, value):
        if key not in self.values:
            self.values[key] = value
            print(f"{key} {value}", flush=True)


OUT = Outcomes()


class Phone(pj.Account):
    """The customer's account: registration status and out-of-dialog MESSAGE status."""

    def onRegState(self, prm):
        if prm.code >= 200:
            OUT.set("register", prm.code)

    def onInstantMessageStatus(self, prm):
        if prm.code >= 200:
            OUT.set("ood_message", prm.code)


class CallerCall(pj.Call):
    def onCallState(self, prm):
        ci = self.getInfo()
        if ci.state == pj.PJSIP_INV_STATE_CONFIRMED:
            OUT.set("call", "CONFIRMED")
        elif ci.state == pj.PJSIP_INV_STATE_DISCONNECTED and "call" not in OUT.values:
            OUT.set("call", f"DISCONNECTED-{ci.lastStatusCode}")

    def onCallMediaState(self, prm):
        pass

    def onCallTsxState(self, prm):
        e = prm.e
        if e.type != pj.PJSIP_EVENT_TSX_STATE:
            return
        tsx = e.body.tsxState.tsx
        if tsx.role != pj.PJSIP_ROLE_UAC or tsx.statusCode < 200:
            return
        method = tsx.method
        if method == "INFO":
            OUT.set("info", tsx.statusCode)

    def onInstantMessageStatus(self, prm):
        if prm.code >= 200:
            OUT.set("message", prm.code)


class CoreCall(pj.Call):
    def onCallState(self, prm):
        pass

    def onCallMediaState(self, prm):
        pass


class Core(pj.Account):
    """The core's UA: answers every call."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def onIncomingCall(self, prm):
        call = CoreCall(self, prm.callId)
        self.calls.append(call)
        op = pj.CallOpParam()
        op.statusCode = 200
        call.answer(op)

    def onInstantMessage(self, prm):
        pass


def pump(ep, until, timeout=TIMEOUT_S):
    end = time.time() + timeout
    while time.time() < end and not until():
        ep.libHandleEvents(20)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    sbc_port, core_port, transport, user, password = args
    call_too = "--no-call" not in sys.argv
    tp_type = {
        "tcp": pj.PJSIP_TRANSPORT_TCP,
        "udp": pj.PJSIP_TRANSPORT_UDP,
        "tls": pj.PJSIP_TRANSPORT_TLS,
    }[transport]
    ca = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--ca=")), None)
    core_type = pj.PJSIP_TRANSPORT_UDP if transport == "tls" else tp_type

    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.uaConfig.userAgent = "pjsua2-e2e"
    cfg.logConfig.level = int(__import__("os").environ.get("PJ_LOG", "1"))
    cfg.logConfig.consoleLevel = int(__import__("os").environ.get("PJ_LOG", "1"))
    cfg.medConfig.noVad = True
    ep.libInit(cfg)
    ep.audDevManager().setNullDev()

    tcfg = pj.TransportConfig()
    tcfg.boundAddress = "127.0.0.1"
    tcfg.port = 0
    if transport == "tls":
        tcfg.tlsConfig.CaListFile = ca or ""
        tcfg.tlsConfig.verifyServer = True
        tcfg.tlsConfig.method = pj.PJSIP_TLSV1_2_METHOD
    phone_tp = ep.transportCreate(tp_type, tcfg)
    core_cfg = pj.TransportConfig()
    core_cfg.boundAddress = "127.0.0.1"
    core_cfg.port = int(core_port)
    core_tp = ep.transportCreate(core_type, core_cfg)
    ep.libStart()

    param = f";transport={transport}"
    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:{user}@example.com"
    acfg.regConfig.registrarUri = f"sip:example.com{param}"
    acfg.regConfig.timeoutSec = 300
    acfg.sipConfig.proxies.append(f"sip:127.0.0.1:{sbc_port}{param};lr")
    acfg.sipConfig.transportId = phone_tp
    acfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", user, 0, password))
    acfg.natConfig.sipStunUse = pj.PJSUA_STUN_USE_DISABLED
    acfg.natConfig.mediaStunUse = pj.PJSUA_STUN_USE_DISABLED
    acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    phone = Phone()
    phone.create(acfg)

    ccfg = pj.AccountConfig()
    ccfg.idUri = f"sip:core@127.0.0.1:{core_port}"
    ccfg.sipConfig.transportId = core_tp
    ccfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    core = Core()
    core.create(ccfg)

    pump(ep, lambda: "register" in OUT.values)
    OUT.set("register", 0)
    if call_too and OUT.values["register"] == 200:
        call = CallerCall(phone)
        prm = pj.CallOpParam(True)
        call.makeCall("sip:bob@example.com", prm)
        pump(ep, lambda: "call" in OUT.values)
        OUT.set("call", "TIMEOUT")
        if OUT.values["call"] == "CONFIRMED":
            info = pj.CallSendRequestParam()
            info.method = "INFO"
            info.txOption.contentType = "application/dtmf-relay"
            info.txOption.msgBody = "Signal=5\r\nDuration=160\r\n"
            call.sendRequest(info)
            pump(ep, lambda: "info" in OUT.values)
            OUT.set("info", 0)
            im = pj.SendInstantMessageParam()
            im.content = "in the call"
            call.sendInstantMessage(im)
            pump(ep, lambda: "message" in OUT.values)
            OUT.set("message", 0)
            call.hangup(pj.CallOpParam())
            pump(ep, lambda: False, 0.5)
        buddy_cfg = pj.BuddyConfig()
        buddy_cfg.uri = "sip:bob@example.com"
        buddy = pj.Buddy()
        buddy.create(phone, buddy_cfg)
        im = pj.SendInstantMessageParam()
        im.content = "outside any call"
        buddy.sendInstantMessage(im)
        pump(ep, lambda: "ood_message" in OUT.values)
        OUT.set("ood_message", 0)
    print("done", flush=True)
    # Exit without the library's slow shutdown (it unregisters and waits); the sockets close
    # with the process.
    sys.stdout.flush()
    import os

    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
