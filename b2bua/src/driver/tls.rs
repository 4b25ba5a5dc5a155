//! TLS for SIP over TCP (RFC 3261 §26.2.1, RFC 5922 §7): the acceptor of each `tls` listener
//! (the interface's certificate, and client certificates required when it names a client CA)
//! and the connector of each `transport = "tls"` route (the next hop verified against the route's
//! CA file or the system's roots under the route's server name, a client certificate presented
//! when configured). rustls with its default crypto provider, aws-lc-rs: TLS 1.2 and 1.3 only,
//! no legacy suites, and the post-quantum hybrid key exchange (X25519MLKEM768) preferred where
//! the peer offers it; *ring*, the alternative, is deprecated by rustls for lacking it.
//!
//! The handshakes run in the connection tasks, so a slow or hostile client never holds the
//! driver's loop; each failure closes its flow with a reason that is logged and counted.

use crate::endpoint::TlsPeer;
use rustls::crypto::aws_lc_rs::default_provider;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::ServerName;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use sbc_config::tls::{read_certificates, read_private_key, TlsClient, TlsServer};
use sbc_config::Config;
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// How long a TLS handshake may take before the connection is dropped.
pub(super) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the TLS set-up of the configuration failed (a file that validated but does not work
/// together: a key that does not match its certificate, say).
#[derive(Debug, thiserror::Error)]
#[error("{field}: {why}")]
pub struct TlsSetupError {
    /// The configuration field, e.g. `interface.customer.tls`.
    pub field: String,
    /// What went wrong.
    pub why: String,
}

/// The acceptors and connectors of a configuration.
#[derive(Clone, Default)]
pub(super) struct Tls {
    /// By stream listener index (`Sockets::tcp`): `Some` for TLS listeners.
    pub(super) acceptors: Vec<Option<TlsAcceptor>>,
    /// By route index: `Some` for TLS routes, with the server name to check.
    pub(super) connectors: Vec<Option<(TlsConnector, ServerName<'static>)>>,
    /// By realm index: `Some` for forward-mode realms reaching their registrar over TLS.
    pub(super) realm_connectors: Vec<Option<(TlsConnector, ServerName<'static>)>>,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(default_provider())
}

/// TLS 1.3 and 1.2, nothing older.
static VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

fn versions() -> &'static [&'static rustls::SupportedProtocolVersion] {
    VERSIONS
}

impl Tls {
    /// Builds every acceptor and connector `cfg` needs; `listeners` gives each stream
    /// listener's interface index and whether it is TLS.
    pub(super) fn new(cfg: &Config, listeners: &[(usize, bool)]) -> Result<Self, TlsSetupError> {
        let mut acceptors = Vec::with_capacity(listeners.len());
        for &(interface, tls) in listeners {
            let iface = cfg.interfaces.get(interface);
            let acceptor = match (tls, iface.and_then(|i| i.tls.as_ref().map(|t| (i, t)))) {
                (true, Some((i, t))) => Some(acceptor(t).map_err(|why| TlsSetupError {
                    field: format!("interface.{}.tls", i.name),
                    why,
                })?),
                _ => None,
            };
            acceptors.push(acceptor);
        }
        let mut connectors = Vec::with_capacity(cfg.routes.len());
        for (i, r) in cfg.routes.iter().enumerate() {
            if r.hop_transport() != sbc_config::Transport::Tls {
                connectors.push(None);
                continue;
            }
            // A next hop given by name is verified against that name (RFC 5922 §4), with the
            // system roots unless [route.tls] says otherwise.
            let mut t = r.tls.clone().unwrap_or(TlsClient {
                server_name: String::new(),
                ca: None,
                certificate: None,
                private_key: None,
            });
            if t.server_name.is_empty() {
                if let Some(n) = r.next_hop.name() {
                    t.server_name.clone_from(&n.host);
                }
            }
            let c = connector(&t).map_err(|why| TlsSetupError {
                field: format!("route[{i}].tls"),
                why,
            })?;
            connectors.push(Some(c));
        }
        let mut realm_connectors = Vec::with_capacity(cfg.realms.len());
        for (i, r) in cfg.realms.iter().enumerate() {
            let c = match (&r.tls, r.registrar_transport) {
                (Some(t), sbc_config::Transport::Tls) => {
                    Some(connector(t).map_err(|why| TlsSetupError {
                        field: format!("realm[{i}].tls"),
                        why,
                    })?)
                }
                _ => None,
            };
            realm_connectors.push(c);
        }
        Ok(Self {
            acceptors,
            connectors,
            realm_connectors,
        })
    }

    /// The connector and server name for a TLS peer the endpoint dials.
    pub(super) fn connector(&self, peer: TlsPeer) -> Option<(TlsConnector, ServerName<'static>)> {
        match peer {
            TlsPeer::Route(i) => self.connectors.get(i).cloned().flatten(),
            TlsPeer::Realm(i) => self.realm_connectors.get(i).cloned().flatten(),
        }
    }

    /// Whether no listener, route or realm uses TLS.
    pub(super) fn is_empty(&self) -> bool {
        self.acceptors.iter().all(Option::is_none)
            && self.connectors.iter().all(Option::is_none)
            && self.realm_connectors.iter().all(Option::is_none)
    }
}

fn acceptor(t: &TlsServer) -> Result<TlsAcceptor, String> {
    let certs = read_certificates(&t.certificate)?;
    let key = read_private_key(&t.private_key)?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions())
        .map_err(|e| e.to_string())?;
    let builder = match &t.client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for c in read_certificates(ca)? {
                roots.add(c).map_err(|e| format!("client_ca: {e}"))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| format!("client_ca: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let config = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("certificate and private_key: {e}"))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn connector(t: &TlsClient) -> Result<(TlsConnector, ServerName<'static>), String> {
    let mut roots = RootCertStore::empty();
    match &t.ca {
        Some(ca) => {
            for c in read_certificates(ca)? {
                roots.add(c).map_err(|e| format!("ca: {e}"))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err("no `ca` file and no system CA certificates found".into());
            }
        }
    }
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions())
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let config = match (&t.certificate, &t.private_key) {
        (Some(c), Some(k)) => builder
            .with_client_auth_cert(read_certificates(c)?, read_private_key(k)?)
            .map_err(|e| format!("certificate and private_key: {e}"))?,
        _ => builder.with_no_client_auth(),
    };
    let name = ServerName::try_from(t.server_name.clone())
        .map_err(|e| format!("server_name {:?}: {e}", t.server_name))?;
    Ok((TlsConnector::from(Arc::new(config)), name))
}

/// The leaf certificate of every interface's `[interface.tls]` and every route's and realm's
/// client certificate, as (metric label, notAfter in Unix seconds); unreadable ones are left out (the
/// configuration check reads them first).
pub(super) fn certificate_expiries(cfg: &Config) -> Vec<(String, i64)> {
    let interfaces = cfg.interfaces.iter().filter_map(|i| {
        Some((
            format!("interface.{}", i.name),
            i.tls.as_ref()?.certificate.clone(),
        ))
    });
    let routes = cfg.routes.iter().filter_map(|r| {
        let cert = r.tls.as_ref()?.certificate.clone()?;
        Some((format!("route.{}", r.name), cert))
    });
    let realms = cfg.realms.iter().filter_map(|r| {
        let cert = r.tls.as_ref()?.certificate.clone()?;
        Some((format!("realm.{}", r.domain), cert))
    });
    interfaces
        .chain(routes)
        .chain(realms)
        .filter_map(|(label, path)| {
            let der = read_certificates(&path).ok()?.into_iter().next()?;
            let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
            Some((label, cert.validity().not_after.timestamp()))
        })
        .collect()
}

/// The DNS and IP names of a verified certificate (DER): its subjectAltName entries, else its
/// common name (RFC 5922 §7.1).
pub(super) fn certificate_names(der: &[u8]) -> Vec<String> {
    use x509_parser::extensions::GeneralName;
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return Vec::new();
    };
    let mut names: Vec<String> = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                GeneralName::DNSName(d) => names.push((*d).to_owned()),
                GeneralName::IPAddress(ip) => {
                    let addr = match ip.len() {
                        4 => <[u8; 4]>::try_from(*ip).ok().map(std::net::IpAddr::from),
                        16 => <[u8; 16]>::try_from(*ip).ok().map(std::net::IpAddr::from),
                        _ => None,
                    };
                    names.extend(addr.map(|a| a.to_string()));
                }
                _ => {}
            }
        }
    }
    if names.is_empty() {
        names.extend(
            cert.subject()
                .iter_common_name()
                .filter_map(|cn| cn.as_str().ok().map(str::to_owned)),
        );
    }
    names
}

/// A short reason for a failed handshake, for logs and `sbc_tls_handshake_failures_total`.
pub(super) fn reason(e: &std::io::Error) -> &'static str {
    if e.kind() == std::io::ErrorKind::TimedOut {
        return "timeout";
    }
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        return "eof";
    }
    let Some(t) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) else {
        return "io";
    };
    match t {
        rustls::Error::InvalidMessage(_) => "not_tls",
        rustls::Error::NoCertificatesPresented => "no_client_certificate",
        rustls::Error::InvalidCertificate(c) => match c {
            rustls::CertificateError::NotValidForName
            | rustls::CertificateError::NotValidForNameContext { .. } => "certificate_name",
            rustls::CertificateError::UnknownIssuer => "unknown_issuer",
            rustls::CertificateError::Expired | rustls::CertificateError::ExpiredContext { .. } => {
                "expired"
            }
            _ => "bad_certificate",
        },
        rustls::Error::AlertReceived(_) => "alert",
        rustls::Error::PeerIncompatible(_) => "incompatible",
        _ => "other",
    }
}
