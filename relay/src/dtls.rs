//! DTLS-SRTP on a WebRTC leg (RFC 5763, RFC 5764): the relay's certificate and its SDP
//! fingerprint, and one sans-IO DTLS 1.2 endpoint per leg that takes the peer's datagrams,
//! gives the datagrams to send back, checks the peer's certificate against the fingerprint its
//! SDP announced (RFC 8122 §5) and exports the SRTP master keys (RFC 5764 §4.2).
//!
//! OpenSSL does the DTLS (the relay's peers are browsers; it is what rtpengine and Kamailio use
//! for the same job). It runs over an in-memory pipe, one datagram per read and write, so no
//! socket is touched here. One limit of the `openssl` crate: it has no `DTLSv1_handle_timeout`,
//! so a lost flight is resent when [`DtlsEndpoint::drive`] runs after OpenSSL's own timer
//! (wall clock, 1 s doubling) has expired; the caller calls it on its housekeeping tick.

use crate::srtp::{MasterKey, Suite};
use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::srtp::SrtpProfileId;
use openssl::ssl::{
    ErrorCode, Ssl, SslContext, SslMethod, SslOptions, SslStream, SslVerifyMode, SslVersion,
};
use openssl::x509::{X509Builder, X509NameBuilder};
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use thiserror::Error;

/// The SRTP protection profiles offered, in the relay's order of preference (RFC 5764 §4.1.2,
/// RFC 7714 §14.2).
const SRTP_PROFILES: &str = "SRTP_AES128_CM_SHA1_80:SRTP_AEAD_AES_128_GCM";

/// The exporter label of DTLS-SRTP (RFC 5764 §4.2).
const EXPORTER_LABEL: &str = "EXTRACTOR-dtls_srtp";

/// The largest datagram the endpoint writes: a flight is fragmented to fit (RFC 6347 §4.1.1).
const MTU: u32 = 1200;

/// Datagrams from the peer kept before the endpoint reads them; a flood beyond is dropped.
const MAX_QUEUED: usize = 16;

/// Why DTLS could not be set up or failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DtlsError {
    /// OpenSSL refused to build the certificate or the context.
    #[error("DTLS setup: {0}")]
    Setup(#[from] openssl::error::ErrorStack),
}

/// A SHA-256 certificate fingerprint as SDP carries it (RFC 8122 §5).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// Parses an `a=fingerprint` value, `sha-256 AB:CD:...`; other hash functions are not
    /// taken (browsers all send SHA-256).
    pub fn parse(value: &str) -> Option<Self> {
        let (alg, hex) = value.trim().split_once(' ')?;
        if !alg.eq_ignore_ascii_case("sha-256") {
            return None;
        }
        let mut out = [0u8; 32];
        let mut parts = hex.trim().split(':');
        for b in &mut out {
            let p = parts.next()?;
            if p.len() != 2 {
                return None;
            }
            *b = u8::from_str_radix(p, 16).ok()?;
        }
        parts.next().is_none().then_some(Self(out))
    }

    /// The `a=fingerprint` value, `sha-256 AB:CD:...` (RFC 8122 §5).
    pub fn sdp_value(&self) -> String {
        let hex: Vec<String> = self.0.iter().map(|b| format!("{b:02X}")).collect();
        format!("sha-256 {}", hex.join(":"))
    }
}

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.sdp_value())
    }
}

/// The relay's DTLS certificate (ECDSA P-256, self-signed, made at start as browsers expect of
/// a WebRTC peer) and the OpenSSL context every leg's endpoint is built from.
#[derive(Clone)]
pub struct DtlsIdentity {
    ctx: SslContext,
    fingerprint: Fingerprint,
}

impl std::fmt::Debug for DtlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DtlsIdentity")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl DtlsIdentity {
    /// A fresh key and certificate valid for 30 days (RFC 8827 §6.5: the fingerprint in the
    /// SDP, not a CA, vouches for it).
    pub fn generate() -> Result<Self, DtlsError> {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
        let key = PKey::from_ec_key(EcKey::generate(&group)?)?;
        let mut name = X509NameBuilder::new()?;
        name.append_entry_by_nid(Nid::COMMONNAME, "sbc-relay")?;
        let name = name.build();
        let mut serial = BigNum::new()?;
        serial.rand(63, MsbOption::MAYBE_ZERO, false)?;
        let mut cert = X509Builder::new()?;
        cert.set_version(2)?;
        let serial = serial.to_asn1_integer()?;
        cert.set_serial_number(&serial)?;
        cert.set_subject_name(&name)?;
        cert.set_issuer_name(&name)?;
        cert.set_pubkey(&key)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let (from, until) = (
            Asn1Time::from_unix(now - 86_400)?,
            Asn1Time::from_unix(now + 30 * 86_400)?,
        );
        cert.set_not_before(&from)?;
        cert.set_not_after(&until)?;
        cert.sign(&key, MessageDigest::sha256())?;
        let cert = cert.build();
        let digest = cert.digest(MessageDigest::sha256())?;
        let mut fingerprint = [0u8; 32];
        fingerprint.copy_from_slice(&digest[..32]);

        let mut ctx = SslContext::builder(SslMethod::dtls())?;
        ctx.set_min_proto_version(Some(SslVersion::DTLS1_2))?;
        ctx.set_certificate(&cert)?;
        ctx.set_private_key(&key)?;
        ctx.check_private_key()?;
        ctx.set_tlsext_use_srtp(SRTP_PROFILES)?;
        ctx.set_options(SslOptions::NO_QUERY_MTU);
        // Any certificate is taken in the handshake; the endpoint then checks it against the
        // fingerprint the peer's SDP gave (RFC 5763 §5), which is what vouches for it.
        ctx.set_verify_callback(
            SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT,
            |_, _| true,
        );
        Ok(Self {
            ctx: ctx.build(),
            fingerprint: Fingerprint(fingerprint),
        })
    }

    /// The certificate's fingerprint, for `a=fingerprint` in the SDP the SBC sends.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }
}

/// Which end of the handshake the relay is, from `a=setup` (RFC 5763 §5, RFC 4145 §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DtlsRole {
    /// `a=setup:active`: the relay sends the ClientHello.
    Client,
    /// `a=setup:passive`: the peer sends it.
    Server,
}

/// The SRTP keys a finished handshake exported (RFC 5764 §4.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SrtpKeys {
    /// The negotiated protection profile.
    pub suite: Suite,
    /// The key the peer sends with (the relay decrypts with it).
    pub inbound: MasterKey,
    /// The key the relay sends with.
    pub outbound: MasterKey,
}

/// Where a leg's handshake stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DtlsState {
    /// In progress.
    Handshaking,
    /// Done: the keys are exported and the peer's certificate matched its fingerprint.
    Connected,
    /// Failed, with the reason for the call's end.
    Failed(&'static str),
}

/// The in-memory datagram pipe OpenSSL reads from and writes to.
#[derive(Debug, Default)]
struct Pipe {
    incoming: VecDeque<Vec<u8>>,
    outgoing: VecDeque<Vec<u8>>,
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let Some(d) = self.incoming.pop_front() else {
            return Err(std::io::ErrorKind::WouldBlock.into());
        };
        let n = d.len().min(buf.len());
        buf[..n].copy_from_slice(&d[..n]);
        Ok(n)
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.outgoing.push_back(buf.to_vec());
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One leg's DTLS endpoint, sans IO: [`handle`](Self::handle) the peer's datagrams,
/// [`poll_transmit`](Self::poll_transmit) what to send, [`take_keys`](Self::take_keys) once.
pub struct DtlsEndpoint {
    stream: SslStream<Pipe>,
    role: DtlsRole,
    expected: Fingerprint,
    /// Set by the verify callback when the peer's certificate is not the expected one.
    mismatch: Arc<AtomicBool>,
    state: DtlsState,
    keys: Option<SrtpKeys>,
}

impl std::fmt::Debug for DtlsEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DtlsEndpoint")
            .field("role", &self.role)
            .field("expected", &self.expected)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl DtlsEndpoint {
    /// An endpoint in `role` that will take only a peer whose certificate has the fingerprint
    /// `expected`; a client queues its ClientHello at once.
    pub fn new(
        identity: &DtlsIdentity,
        role: DtlsRole,
        expected: Fingerprint,
    ) -> Result<Self, DtlsError> {
        let mut ssl = Ssl::new(&identity.ctx)?;
        ssl.set_mtu(MTU)?;
        // The peer's certificate is checked in the handshake, so a stranger never gets a
        // Finished: its leaf must have the SDP's fingerprint (RFC 5763 §5); the chain is not
        // checked (browsers' certificates are self-signed).
        let mismatch = Arc::new(AtomicBool::new(false));
        let flag = mismatch.clone();
        ssl.set_verify_callback(
            SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT,
            move |_, chain| {
                if chain.error_depth() != 0 {
                    return true;
                }
                let ok = chain
                    .current_cert()
                    .and_then(|c| c.digest(MessageDigest::sha256()).ok())
                    .is_some_and(|d| d.as_ref() == expected.0.as_slice());
                flag.store(!ok, Ordering::Relaxed);
                ok
            },
        );
        match role {
            DtlsRole::Client => ssl.set_connect_state(),
            DtlsRole::Server => ssl.set_accept_state(),
        }
        let stream = SslStream::new(ssl, Pipe::default())?;
        let mut ep = Self {
            stream,
            role,
            expected,
            mismatch,
            state: DtlsState::Handshaking,
            keys: None,
        };
        if role == DtlsRole::Client {
            ep.drive();
        }
        Ok(ep)
    }

    /// The relay's role in this handshake.
    pub fn role(&self) -> DtlsRole {
        self.role
    }

    /// Where the handshake stands.
    pub fn state(&self) -> &DtlsState {
        &self.state
    }

    /// Takes a datagram the peer sent and runs the handshake as far as it goes.
    pub fn handle(&mut self, datagram: &[u8]) {
        let pipe = self.stream.get_mut();
        if pipe.incoming.len() < MAX_QUEUED {
            pipe.incoming.push_back(datagram.to_vec());
        }
        self.drive();
    }

    /// Runs the handshake (or, once connected, reads what the peer sent: a repeated Finished
    /// is answered again, application data and alerts are consumed); also resends a flight
    /// whose timer has expired.
    pub fn drive(&mut self) {
        match self.state {
            DtlsState::Failed(_) => {}
            DtlsState::Handshaking => match self.stream.do_handshake() {
                Ok(()) => self.finish(),
                Err(e) if matches!(e.code(), ErrorCode::WANT_READ | ErrorCode::WANT_WRITE) => {}
                Err(_) if self.mismatch.load(Ordering::Relaxed) => {
                    self.state = DtlsState::Failed("DTLS fingerprint mismatch");
                }
                Err(_) => self.state = DtlsState::Failed("DTLS handshake failed"),
            },
            DtlsState::Connected => {
                let mut sink = [0u8; 1500];
                while !self.stream.get_ref().incoming.is_empty() {
                    match self.stream.ssl_read(&mut sink) {
                        Ok(_) => {}
                        Err(e) if e.code() == ErrorCode::ZERO_RETURN => break,
                        Err(_) => break,
                    }
                }
            }
        }
    }

    fn finish(&mut self) {
        let ssl = self.stream.ssl();
        let peer = ssl
            .peer_certificate()
            .and_then(|c| c.digest(MessageDigest::sha256()).ok());
        let matches = peer.is_some_and(|d| d.as_ref() == self.expected.0.as_slice());
        if !matches {
            self.state = DtlsState::Failed("DTLS fingerprint mismatch");
            return;
        }
        let suite = match ssl.selected_srtp_profile().map(|p| p.id()) {
            Some(SrtpProfileId::SRTP_AES128_CM_SHA1_80) => Suite::AesCm128HmacSha1_80,
            Some(SrtpProfileId::SRTP_AEAD_AES_128_GCM) => Suite::AeadAes128Gcm,
            _ => {
                self.state = DtlsState::Failed("no DTLS-SRTP profile negotiated");
                return;
            }
        };
        let salt_len = suite.salt_len();
        let mut material = [0u8; 2 * (16 + 14)];
        let len = 2 * (16 + salt_len);
        let Some(out) = material.get_mut(..len) else {
            return;
        };
        if ssl
            .export_keying_material(out, EXPORTER_LABEL, None)
            .is_err()
        {
            self.state = DtlsState::Failed("DTLS-SRTP key export failed");
            return;
        }
        // client key | server key | client salt | server salt (RFC 5764 §4.2).
        let key = |i: usize| -> Option<MasterKey> {
            let k: &[u8; 16] = out.get(i * 16..i * 16 + 16)?.try_into().ok()?;
            let s0 = 32 + i * salt_len;
            MasterKey::new(k, out.get(s0..s0 + salt_len)?)
        };
        let (Some(client), Some(server)) = (key(0), key(1)) else {
            self.state = DtlsState::Failed("DTLS-SRTP key export failed");
            return;
        };
        material.fill(0);
        let (inbound, outbound) = match self.role {
            DtlsRole::Client => (server, client),
            DtlsRole::Server => (client, server),
        };
        self.keys = Some(SrtpKeys {
            suite,
            inbound,
            outbound,
        });
        self.state = DtlsState::Connected;
    }

    /// The next datagram to send to the peer.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.stream.get_mut().outgoing.pop_front()
    }

    /// The exported SRTP keys, once, after the handshake succeeded.
    pub fn take_keys(&mut self) -> Option<SrtpKeys> {
        self.keys.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shuttles datagrams between two endpoints until neither has anything to send.
    fn run(a: &mut DtlsEndpoint, b: &mut DtlsEndpoint) -> usize {
        let mut datagrams = 0;
        for _ in 0..50 {
            let mut moved = false;
            while let Some(d) = a.poll_transmit() {
                assert!(d.len() <= MTU as usize, "a datagram of {} bytes", d.len());
                b.handle(&d);
                datagrams += 1;
                moved = true;
            }
            while let Some(d) = b.poll_transmit() {
                assert!(d.len() <= MTU as usize, "a datagram of {} bytes", d.len());
                a.handle(&d);
                datagrams += 1;
                moved = true;
            }
            if !moved {
                break;
            }
        }
        datagrams
    }

    #[test]
    fn fingerprints_parse_and_print_as_sdp_writes_them() {
        let id = DtlsIdentity::generate().unwrap();
        let v = id.fingerprint().sdp_value();
        assert!(v.starts_with("sha-256 "));
        assert_eq!(v.len(), "sha-256 ".len() + 32 * 3 - 1);
        assert_eq!(Fingerprint::parse(&v), Some(id.fingerprint()));
        assert_eq!(
            Fingerprint::parse(&v.to_lowercase()),
            Some(id.fingerprint())
        );
        assert_eq!(Fingerprint::parse(&v.replace("sha-256", "sha-1")), None);
        assert_eq!(Fingerprint::parse(&v[..v.len() - 3]), None);
        assert_eq!(Fingerprint::parse(&format!("{v}:00")), None);
        assert_eq!(Fingerprint::parse("sha-256 zz"), None);
    }

    #[test]
    fn a_handshake_exports_the_same_keys_crosswise_and_srtp_runs_on_them() {
        let (ia, ib) = (
            DtlsIdentity::generate().unwrap(),
            DtlsIdentity::generate().unwrap(),
        );
        let mut client = DtlsEndpoint::new(&ia, DtlsRole::Client, ib.fingerprint()).unwrap();
        let mut server = DtlsEndpoint::new(&ib, DtlsRole::Server, ia.fingerprint()).unwrap();
        let n = run(&mut client, &mut server);
        assert!(n >= 4, "{n} datagrams");
        assert_eq!(client.state(), &DtlsState::Connected);
        assert_eq!(server.state(), &DtlsState::Connected);
        let (ck, sk) = (client.take_keys().unwrap(), server.take_keys().unwrap());
        assert_eq!(ck.suite, Suite::AesCm128HmacSha1_80);
        assert_eq!(ck.outbound, sk.inbound);
        assert_eq!(ck.inbound, sk.outbound);
        assert_ne!(ck.inbound, ck.outbound);
        assert!(client.take_keys().is_none(), "keys are given once");

        // What one side protects, the other unprotects.
        let mut tx = crate::srtp::Context::new(ck.suite, &ck.outbound);
        let mut rx = crate::srtp::Context::new(sk.suite, &sk.inbound);
        let mut buf = [0u8; 64];
        buf[0] = 0x80;
        buf[1] = 0;
        buf[8..12].copy_from_slice(&[1, 2, 3, 4]);
        buf[12..20].copy_from_slice(b"payload!");
        let len = tx.protect_rtp(&mut buf, 20).unwrap();
        assert_eq!(rx.unprotect_rtp(&mut buf[..len]).unwrap(), 20);
        assert_eq!(&buf[12..20], b"payload!");
    }

    #[test]
    fn a_certificate_that_does_not_match_the_sdp_fingerprint_fails_the_handshake() {
        let (ia, ib, other) = (
            DtlsIdentity::generate().unwrap(),
            DtlsIdentity::generate().unwrap(),
            DtlsIdentity::generate().unwrap(),
        );
        let mut client = DtlsEndpoint::new(&ia, DtlsRole::Client, ib.fingerprint()).unwrap();
        // The server expects someone else's certificate.
        let mut server = DtlsEndpoint::new(&ib, DtlsRole::Server, other.fingerprint()).unwrap();
        run(&mut client, &mut server);
        assert_eq!(
            server.state(),
            &DtlsState::Failed("DTLS fingerprint mismatch")
        );
        assert!(server.take_keys().is_none());
        // Refused in the handshake: the stranger never got the server's Finished.
        assert_ne!(client.state(), &DtlsState::Connected);
        // And a client refuses a server that is not the one its SDP named.
        let mut client = DtlsEndpoint::new(&ia, DtlsRole::Client, other.fingerprint()).unwrap();
        let mut server = DtlsEndpoint::new(&ib, DtlsRole::Server, ia.fingerprint()).unwrap();
        run(&mut client, &mut server);
        assert_eq!(
            client.state(),
            &DtlsState::Failed("DTLS fingerprint mismatch")
        );
        assert_ne!(server.state(), &DtlsState::Connected);
    }

    #[test]
    fn junk_fails_a_server_without_a_panic_and_a_retransmitted_hello_is_harmless() {
        let (ia, ib) = (
            DtlsIdentity::generate().unwrap(),
            DtlsIdentity::generate().unwrap(),
        );
        let mut server = DtlsEndpoint::new(&ib, DtlsRole::Server, ia.fingerprint()).unwrap();
        server.handle(&[22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 1, 2, 3]);
        assert!(matches!(
            server.state(),
            DtlsState::Handshaking | DtlsState::Failed(_)
        ));

        let mut server = DtlsEndpoint::new(&ib, DtlsRole::Server, ia.fingerprint()).unwrap();
        let mut client = DtlsEndpoint::new(&ia, DtlsRole::Client, ib.fingerprint()).unwrap();
        let hello = client.poll_transmit().unwrap();
        server.handle(&hello);
        server.handle(&hello);
        while let Some(d) = server.poll_transmit() {
            client.handle(&d);
        }
        run(&mut client, &mut server);
        assert_eq!(server.state(), &DtlsState::Connected);
        assert_eq!(client.state(), &DtlsState::Connected);
    }
}
