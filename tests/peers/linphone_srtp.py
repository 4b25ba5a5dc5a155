#!/usr/bin/env python3
"""A real linphone phone (Debian's linphonec) with SRTP over TLS, for the SBC's end-to-end tests.

Drives linphonec (linphone-cli 5.1) through its interactive commands as the customer's phone
on loopback:
  * TLS to the SBC's customer side at 127.0.0.1:SBC_TLS_PORT, verifying its certificate chain
    against CA_FILE (not its name: Debian's linphone uses mbedtls 2.28, which cannot match the
    IP SAN 127.0.0.1, and the SBC's Contact -- hence every in-dialog connection -- is an IP);
  * SRTP mandatory (SDES, media_encryption=srtp, media_encryption_mandatory=1), PCMU/PCMA only;
  * registers USER@example.com with digest (PASSWORD) through the SBC.

Two calls, in file mode (no soundcard): the phone plays DIR/tone700.wav (700 Hz, generated here)
into each call and records what it hears:
  1. it calls CALL_URI (e.g. sip:bob@example.com), keeps the call up TONE_S once connected,
     recording into DIR/lp-out.wav, then hangs up;
  2. it waits (at most IN_WAIT_S) for an incoming call, answers it, plays/records into
     DIR/lp-in.wav for TONE_S (or until the other side hangs up), then hangs up.

It prints one line per outcome, `key value`, for the Rust test to assert on:
  register <code|failed>                   final REGISTER status (200 when registered)
  out_call <state> / in_call <state>       CONFIRMED when the call was up (else TIMEOUT, ENDED-...)
  out_srtp <0|1> / in_srtp <0|1>           whether linphone negotiated SRTP for the call (its log:
                                           "Negotiated media encryption is LinphoneMediaEncryptionSRTP")
  out_phone_hears <f700> <f1800>           tone powers (relative, Goertzel) in lp-out.wav
  in_phone_hears <f700> <f1800>            ... in lp-in.wav
  done

With the optional trailing flag --ice linphone is also an ICE agent (a NAT policy with ICE only:
no STUN/TURN server, so host candidates only); its SDP carries a=ice-ufrag/ice-pwd and
a=candidate lines. linphone 5.1 never offers a loopback host candidate by itself (see LO_SHIM_C),
so the script compiles a small LD_PRELOAD shim (with $CC, default cc, into DIR) that makes
127.0.0.1 linphonec's only host address. Then it also prints
  ice_shim <0|1>                           whether the shim was built (else no working candidate)
and per call (after out_srtp / in_srtp):
  out_ice <0|1> / in_ice <0|1>             1 when ICE completed for the audio stream (linphone's log:
                                           "ICE state is IceState{Host,Reflexive,Relay}Connection",
                                           never "IceStateFailed" afterwards)
  out_ice_state <s> / in_ice_state <s>     the last ICE state before the stream stopped
                                           (IceStateHostConnection, IceStateInProgress, ..., none)
  out_ice_sdp <0|1> / in_ice_sdp <0|1>     1 when linphone's offer/answer carried ufrag, pwd and
                                           candidates

Usage: linphone_srtp.py SBC_TLS_PORT USER PASSWORD CA_FILE DIR CALL_URI [--ice]
Also writes DIR/linphonerc, DIR/linphonec.log (linphone's debug log with every SIP message)
and DIR/linphonec.out (its console). Python stdlib only; loopback only; bounded (about
TOTAL_S overall, linphonec is killed at the end). Exits 0 whatever the outcomes (the test judges
them), 2 on a usage error.
"""

import math
import os
import re
import signal
import struct
import subprocess
import sys
import threading
import time
import wave

LINPHONEC = os.environ.get("LINPHONEC", "linphonec")
TOTAL_S = 40.0
REGISTER_S = 8.0
CONNECT_S = 10.0
IN_WAIT_S = 15.0
TONE_S = 2.5
PHONE_HZ = 700
CORE_HZ = 1800
RATE = 8000


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
            channels = w.getnchannels()
            width = w.getsampwidth()
            raw = w.readframes(w.getnframes())
    except (OSError, wave.Error, EOFError):
        return (0.0, 0.0)
    if width != 2:
        return (0.0, 0.0)
    step = 2 * channels
    n = len(raw) // step
    samples = [int.from_bytes(raw[step * i : step * i + 2], "little", signed=True) for i in range(n)]
    samples = samples[rate // 2 :]
    if not samples:
        return (0.0, 0.0)
    return (goertzel(samples, rate, PHONE_HZ), goertzel(samples, rate, CORE_HZ))


def write_tone(path, freq=PHONE_HZ, seconds=10.0, rate=RATE):
    """A mono 16-bit WAV of a sine at `freq` (linphone loops it while the call is up)."""
    n = int(seconds * rate)
    frames = b"".join(
        struct.pack("<h", int(12000 * math.sin(2.0 * math.pi * freq * i / rate))) for i in range(n)
    )
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)


def write_rc(path, out_dir, port, user, password, ca, ice=False):
    """linphone's configuration: the keys that matter are commented."""
    codecs = [
        ("PCMU", 8000, 1, 1),
        ("PCMA", 8000, 1, 1),
        ("opus", 48000, 2, 0),
        ("speex", 16000, 1, 0),
        ("speex", 8000, 1, 0),
        ("speex", 32000, 1, 0),
        ("GSM", 8000, 1, 0),
        ("G722", 8000, 1, 0),
        ("G729", 8000, 1, 0),
        ("L16", 44100, 2, 0),
        ("L16", 44100, 1, 0),
    ]
    codec_sections = "".join(
        f"[audio_codec_{i}]\nmime={m}\nrate={r}\nchannels={c}\nenabled={e}\n\n"
        for i, (m, r, c, e) in enumerate(codecs)
    )
    if ice:
        # liblinphone 5.1 reads [net] nat_policy_ref, then the [nat_policy_N] section whose `ref`
        # matches (coreapi/nat_policy.c); protocols=ice without stun/turn and without any
        # stun_server key: "ICE is used without STUN server", host candidates only. The legacy
        # firewall_policy=ice would also turn STUN on, so it is left out.
        net_policy = "nat_policy_ref=loopback_ice\n\n[nat_policy_0]\nref=loopback_ice\nprotocols=ice"
    else:
        net_policy = "firewall_policy=0"
    text = f"""\
[sip]
# client TLS only (random local port), bound to loopback; no UDP/TCP listeners
sip_port=0
sip_tcp_port=0
sip_tls_port=-1
bind_address=127.0.0.1
use_ipv6=0
ipv6_migration_done=1
# without this key linphone waits for a network-reachability event that never comes here
auto_net_state_mon=0
register_only_when_network_is_up=0
default_proxy=0
root_ca={ca}
# chain checked against root_ca; the name check is off because Debian's belle-sip uses
# mbedtls 2.28, which cannot match IP SANs ("CN-mismatch" for 127.0.0.1 even with an IP SAN)
verify_server_certs=1
verify_server_cn=0
media_encryption=srtp
media_encryption_mandatory=1
ping_with_options=0
guess_hostname=0
contact=sip:{user}@127.0.0.1
inc_timeout=30
in_call_timeout=0

[net]
mtu=1300
{net_policy}

[storage]
# linphone aborts its start-up (no SIP sockets) if it cannot open its databases
uri={out_dir}/linphone.db
call_logs_db_uri={out_dir}/call-history.db
zrtp_secrets_db_uri={out_dir}/zrtp-secrets.db

[misc]
user_certificates_path={out_dir}
uuid=0

[rtp]
# media on loopback too (bound and advertised in SDP)
bind_address=127.0.0.1
audio_rtp_port=36000-39999
nortp_timeout=30
audio_adaptive_jitt_comp_enabled=0

[sound]
echocancellation=0
playback_gain_db=0
mic_gain_db=0

[video]
display=0
capture=0

[auth_info_0]
username={user}
passwd={password}
realm=example.com
domain=example.com

[proxy_0]
# The SBC's 200 OK/INVITE Contact is sip:127.0.0.1:PORT;transport=tls (no Record-Route), so
# in-dialog requests (ACK, BYE) and responses open/reuse TLS channels named 127.0.0.1; the proxy
# must be named the same way for belle-sip to reuse the registration's connection.
reg_proxy=<sip:127.0.0.1:{port};transport=tls>
# outbound proxy for calls too (else linphone resolves the callee's domain in DNS)
reg_route=<sip:127.0.0.1:{port};transport=tls;lr>
reg_identity=sip:{user}@example.com
reg_expires=300
reg_sendregister=1
publish=0
dial_escape_plus=0

{codec_sections}"""
    with open(path, "w") as f:
        f.write(text)


# liblinphone 5.1 takes its ICE host candidates from getifaddrs() *minus loopback interfaces*
# plus the address of the default route (src/utils/if-addrs.cpp), with no configuration key to
# change that, and mediastreamer2 sends each check from its candidate's address (IP_PKTINFO).
# With RTP bound to 127.0.0.1 that means checks from e.g. 192.0.2.2 whose answers never reach the
# 127.0.0.1 socket. This preload (linphonec only) makes 127.0.0.1 its one host address: getifaddrs()
# returns just lo's IPv4 entry with IFF_LOOPBACK cleared, and connect() of a UDP socket to a
# non-loopback address fails (bctbx_get_local_ip_for's default-route probe). ICE itself is
# untouched.
LO_SHIM_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

int getifaddrs(struct ifaddrs **out) {
    static int (*real)(struct ifaddrs **);
    if (!real) real = (int (*)(struct ifaddrs **))dlsym(RTLD_NEXT, "getifaddrs");
    int r = real(out);
    if (r != 0) return r;
    /* glibc frees the list as one block from its head: keep the head node, give it the
     * contents of the loopback IPv4 entry and cut the list there */
    struct ifaddrs *head = *out, *lo = 0;
    for (struct ifaddrs *i = head; i; i = i->ifa_next)
        if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET && (i->ifa_flags & IFF_LOOPBACK)) {
            lo = i;
            break;
        }
    if (!head || !lo) return 0;
    if (lo != head) *head = *lo;
    head->ifa_flags &= ~IFF_LOOPBACK;
    head->ifa_next = 0;
    return 0;
}

int connect(int fd, const struct sockaddr *a, socklen_t l) {
    static int (*real)(int, const struct sockaddr *, socklen_t);
    if (!real) real = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "connect");
    int type = 0;
    socklen_t tl = sizeof(type);
    if (a && getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type == SOCK_DGRAM) {
        if (a->sa_family == AF_INET
            && (ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24) != 127) {
            errno = ENETUNREACH;
            return -1;
        }
        if (a->sa_family == AF_INET6
            && !IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)a)->sin6_addr)) {
            errno = ENETUNREACH;
            return -1;
        }
    }
    return real(fd, a, l);
}
"""


def build_lo_shim(out_dir):
    """Compiles LO_SHIM_C into DIR/lo_only.so with $CC (default cc); its path, or None."""
    src = os.path.join(out_dir, "lo_only.c")
    lib = os.path.join(out_dir, "lo_only.so")
    with open(src, "w") as f:
        f.write(LO_SHIM_C)
    cc = os.environ.get("CC", "cc")
    try:
        r = subprocess.run(
            [cc, "-shared", "-fPIC", "-O1", "-o", lib, src, "-ldl"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return lib if r.returncode == 0 and os.path.exists(lib) else None


class Linphonec:
    """linphonec on pipes: commands in, console lines collected by a reader thread."""

    def __init__(self, rc, log, out_path, home, preload=None):
        env = dict(os.environ)
        env.update(HOME=home, XDG_DATA_HOME=home, XDG_CONFIG_HOME=home, LANG="C")
        if preload:
            env["LD_PRELOAD"] = preload
        self.out = open(out_path, "w")
        self.proc = subprocess.Popen(
            [LINPHONEC, "-c", rc, "-d", "6", "-l", log],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=home,
            start_new_session=True,
        )
        self.lines = []
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        buf = b""
        while True:
            try:
                chunk = os.read(self.proc.stdout.fileno(), 4096)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buf += chunk
            *complete, buf = buf.split(b"\n")
            with self.cond:
                for raw in complete:
                    line = raw.decode("utf-8", "replace").replace("linphonec> ", "").strip()
                    self.lines.append(line)
                    self.out.write(line + "\n")
                self.out.flush()
                self.cond.notify_all()
        with self.cond:
            self.lines.append("<eof>")
            self.cond.notify_all()

    def send(self, command):
        try:
            self.proc.stdin.write((command + "\n").encode())
            self.proc.stdin.flush()
        except (OSError, ValueError):
            pass

    def mark(self):
        with self.cond:
            return len(self.lines)

    def wait_for(self, pattern, timeout, start=0):
        """First line from index `start` matching `pattern` within `timeout` -> (match, next index)."""
        rx = re.compile(pattern)
        end = time.time() + max(timeout, 0)
        i = start
        with self.cond:
            while True:
                while i < len(self.lines):
                    m = rx.search(self.lines[i])
                    i += 1
                    if m:
                        return m, i
                left = end - time.time()
                if left <= 0 or (self.lines and self.lines[-1] == "<eof>" and i >= len(self.lines)):
                    return None, i
                self.cond.wait(min(left, 0.2))

    def find(self, pattern, start=0):
        rx = re.compile(pattern)
        with self.cond:
            for line in self.lines[start:]:
                m = rx.search(line)
                if m:
                    return m
        return None

    def stop(self):
        self.send("quit")
        try:
            self.proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            pass
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass
        self.thread.join(timeout=1)
        self.out.close()


def register_codes(log_path):
    """Status codes of the responses to REGISTER in linphone's log, in order."""
    try:
        with open(log_path, errors="replace") as f:
            text = f.read()
    except OSError:
        return []
    return re.findall(r"SIP/2\.0 (\d{3}) [^\n]*\n(?:[^\n]+\n){0,20}?CSeq: *\d+ REGISTER", text)


def await_connect(lp, cid, start, timeout):
    """Wait for call `cid` (a regex for its id) to connect: (id, CONFIRMED|TIMEOUT|ERROR-reason|ENDED-reason)."""
    m, at = lp.wait_for(rf"Call ({cid}) with .* (connected|ended \((.*)\)|error)\.$", timeout, start)
    if m is None:
        return None, "TIMEOUT"
    if m.group(2) == "connected":
        return m.group(1), "CONFIRMED"
    if m.group(2) == "error":
        m2, _ = lp.wait_for(rf"Call {m.group(1)} with .* ended \((.*)\)", 1.0, at)
        return m.group(1), "ERROR" + ("-" + m2.group(1).replace(" ", "_") if m2 else "")
    return m.group(1), "ENDED-" + m.group(3).replace(" ", "_")


def hold_call(lp, cid, start, deadline):
    """Keep call `cid` up for TONE_S (or until it ends), then hang it up; returns the index."""
    m, _ = lp.wait_for(rf"Call {cid} with .* (ended|error)", min(TONE_S, deadline - time.time()), start)
    if m is None:
        lp.send(f"terminate {cid}")
        m, _ = lp.wait_for(rf"Call {cid} with .* ended", min(3.0, deadline - time.time()), start)
    time.sleep(0.3)  # let the recorder close its file
    return lp.mark()


def log_size(log_path):
    try:
        return os.path.getsize(log_path)
    except OSError:
        return 0


def srtp_since(log_path, offset):
    """1 if linphone's log, from `offset` on, says the media encryption negotiated was SRTP."""
    try:
        with open(log_path, "rb") as f:
            f.seek(offset)
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return 0
    found = re.findall(r"Negotiated media encryption is (\w+)", text)
    return 1 if found and all(e == "LinphoneMediaEncryptionSRTP" for e in found) else 0


def log_since(log_path, offset):
    try:
        with open(log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


ICE_UP = ("IceStateHostConnection", "IceStateReflexiveConnection", "IceStateRelayConnection")


def ice_since(log_path, offset):
    """(completed 0|1, last ICE state) of the audio stream in linphone's log from `offset` on."""
    states = re.findall(r"ICE state is (\w+) for [^\n]*[Aa]udio", log_since(log_path, offset))
    if not states:
        states = re.findall(r"ICE state is (\w+)", log_since(log_path, offset))
    if not states:
        return 0, "none"
    up = [i for i, st in enumerate(states) if st in ICE_UP]
    failed = [i for i, st in enumerate(states) if st == "IceStateFailed"]
    ok = 1 if up and (not failed or failed[-1] < up[-1]) else 0
    # the stream's teardown reports IceStateNotActivated: the state before it is the outcome
    active = [st for st in states if st != "IceStateNotActivated"]
    return ok, (active or states)[-1]


def ice_in_own_sdp(log_path, offset):
    """1 if an INVITE or 200 OK that linphone sent (log from `offset` on) had ICE attributes.

    belle-sip logs "channel [..]: message sent to [..], size: [N] bytes" and then the message,
    whose lines have no timestamp (the next log line has one)."""
    text = log_since(log_path, offset)
    stamp = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
    msg, sending = [], False
    for line in text.split("\n") + ["0000-00-00 00:00:00 end"]:
        if stamp.match(line):
            if sending and msg and (msg[0].startswith("INVITE ") or msg[0].startswith("SIP/2.0 200")):
                body = "\n".join(msg)
                if "a=ice-ufrag:" in body and "a=ice-pwd:" in body and "a=candidate:" in body:
                    return 1
            sending, msg = "message sent to" in line, []
        elif sending:
            msg.append(line.strip())
    return 0


def main():
    args = sys.argv[1:]
    ice = False
    if len(args) == 7 and args[6] == "--ice":
        ice = True
        args = args[:6]
    if len(args) != 6 or not args[0].isdigit():
        print(__doc__, file=sys.stderr)
        return 2
    port, user, password, ca, out_dir, call_uri = args
    deadline = time.time() + TOTAL_S
    out_dir = os.path.abspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    ca = os.path.abspath(ca)
    rc = os.path.join(out_dir, "linphonerc")
    log = os.path.join(out_dir, "linphonec.log")
    tone = os.path.join(out_dir, "tone700.wav")
    rec_out = os.path.join(out_dir, "lp-out.wav")
    rec_in = os.path.join(out_dir, "lp-in.wav")
    for stale in (rec_out, rec_in, log):
        try:
            os.unlink(stale)
        except OSError:
            pass
    write_tone(tone)
    write_rc(rc, out_dir, port, user, password, ca, ice)

    def report_ice(prefix, offset):
        if ice:
            ok, state = ice_since(log, offset)
            say(f"{prefix}_ice", ok)
            say(f"{prefix}_ice_state", state)
            say(f"{prefix}_ice_sdp", ice_in_own_sdp(log, offset))

    shim = None
    if ice:
        shim = build_lo_shim(out_dir)
        say("ice_shim", 1 if shim else 0)
    try:
        lp = Linphonec(rc, log, os.path.join(out_dir, "linphonec.out"), out_dir, shim)
    except OSError as e:
        say("error", repr(e).replace(" ", "_"))
        say("register", "failed")
        say("done")
        return 0
    try:
        # File mode: the "microphone" is the play file, the "speaker" the record file.
        lp.send("soundcard use files")
        lp.send(f"play {tone}")
        lp.send(f"record {rec_out}")

        registered = False
        reg_end = min(deadline, time.time() + REGISTER_S)
        while time.time() < reg_end:
            at = lp.mark()
            lp.send("status register")
            m, _ = lp.wait_for(r"^(registered, identity=|registered=)", 1.0, at)
            if m and m.group(1).startswith("registered, identity"):
                registered = True
                break
            time.sleep(0.3)
        codes = register_codes(log)
        if registered:
            ok = [c for c in codes if c.startswith("2")]
            say("register", ok[-1] if ok else "200")
        else:
            say("register", codes[-1] if codes else "failed")

        if registered:
            # 1) the phone calls out
            at = lp.mark()
            log_at = log_size(log)
            lp.send(f"call {call_uri}")
            cid, state = await_connect(lp, r"\d+", at, min(CONNECT_S, deadline - time.time()))
            say("out_call", state)
            if state == "CONFIRMED":
                after = hold_call(lp, cid, at, deadline)
                say("out_srtp", srtp_since(log, log_at))
            else:
                say("out_srtp", 0)
                lp.send("terminate all")
                after = lp.mark()
            report_ice("out", log_at)
            p7, p18 = tones_in(rec_out)
            say("out_phone_hears", f"{p7:.1f}", f"{p18:.1f}")

            # 2) an incoming call, answered
            lp.send(f"record {rec_in}")
            log_at = log_size(log)
            m, at = lp.wait_for(
                r"Receiving new incoming call from .*, assigned id (\d+)",
                min(IN_WAIT_S, deadline - time.time()),
                after,
            )
            if m:
                cid = m.group(1)
                lp.send(f"answer {cid}")
                _, state = await_connect(lp, cid, at, min(CONNECT_S, deadline - time.time()))
                say("in_call", state)
                if state == "CONFIRMED":
                    hold_call(lp, cid, at, deadline)
                    say("in_srtp", srtp_since(log, log_at))
                else:
                    say("in_srtp", 0)
                    lp.send("terminate all")
            else:
                say("in_call", "TIMEOUT")
                say("in_srtp", 0)
            report_ice("in", log_at)
            p7, p18 = tones_in(rec_in)
            say("in_phone_hears", f"{p7:.1f}", f"{p18:.1f}")
    except Exception as e:  # noqa: BLE001 - reported for the test, never fatal
        say("error", repr(e).replace(" ", "_"))
    finally:
        lp.stop()
    say("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
