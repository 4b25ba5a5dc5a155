//! TLS settings (RFC 3261 §26.2.1, RFC 5922, RFC 5246/8446): an interface's certificate and key
//! for its `tls` listeners (and the CA its clients must be signed by, for mutual TLS), and a
//! route's server name, CA bundle and client certificate. The PEM files are read and checked
//! here, so a bad file is refused with its field before the SBC starts or reloads; the SIP
//! stack reads them again through [`read_certificates`] and [`read_private_key`].

use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde::Deserialize;

use crate::locate::FieldPath;
use crate::model::{Config, RealmMode, Transport};
use crate::validate::{fail, Check};

/// `[interface.tls]`: what the interface's `tls` listeners present and require.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsServer {
    /// PEM file with the certificate chain, leaf first.
    pub certificate: PathBuf,
    /// PEM file with the private key (PKCS#8, PKCS#1 or SEC1).
    pub private_key: PathBuf,
    /// PEM file of CA certificates: when set, clients must present a certificate signed by one
    /// (mutual TLS, for trunks that authenticate by certificate).
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
}

/// `[route.tls]`: how the SBC checks the next hop of a `transport = "tls"` route and what it
/// presents to it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsClient {
    /// The name the next hop's certificate must carry (SNI and RFC 5922 §7.2 identity check):
    /// a DNS name or an IP address; empty (or absent) for a next hop given by name, which is
    /// then checked against that name (RFC 5922 §4).
    #[serde(default)]
    pub server_name: String,
    /// PEM file of the CA certificates to verify the next hop with; absent: the system's roots.
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// PEM file with a client certificate chain for mutual TLS (with `private_key`).
    #[serde(default)]
    pub certificate: Option<PathBuf>,
    /// PEM file with the client certificate's private key.
    #[serde(default)]
    pub private_key: Option<PathBuf>,
}

/// Every certificate in the PEM file at `path`, or why not (unreadable, none inside).
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let data = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&data)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: not PEM certificates: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no CERTIFICATE block", path.display()));
    }
    Ok(certs)
}

/// The private key in the PEM file at `path`, or why not.
pub fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let data = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    PrivateKeyDer::from_pem_slice(&data)
        .map_err(|e| format!("{}: no usable private key: {e}", path.display()))
}

/// The TLS checks: listeners need their interface's certificate and key, routes over TLS need
/// a server name, and every file named must hold what it should.
pub(crate) fn check(cfg: &Config) -> Check {
    for (i, ifc) in cfg.interfaces.iter().enumerate() {
        let p = FieldPath::new("interface").at(i);
        let tls_listen = ifc
            .listen
            .iter()
            .position(|l| matches!(l.transport, Transport::Tls | Transport::Wss));
        match (&ifc.tls, tls_listen) {
            (None, Some(j)) => {
                return fail(
                    p.key("listen").at(j).key("transport"),
                    format!(
                        "a {} listener needs [interface.tls] with certificate and private_key",
                        ifc.listen[j].transport.as_str()
                    ),
                )
            }
            (Some(t), _) => {
                let tp = p.key("tls");
                read_certificates(&t.certificate).or_else(|e| fail(tp.key("certificate"), e))?;
                read_private_key(&t.private_key).or_else(|e| fail(tp.key("private_key"), e))?;
                if let Some(ca) = &t.client_ca {
                    read_certificates(ca).or_else(|e| fail(tp.key("client_ca"), e))?;
                }
            }
            (None, None) => {}
        }
    }
    for (i, r) in cfg.routes.iter().enumerate() {
        let p = FieldPath::new("route").at(i);
        if !r.from_certificates.is_empty() {
            let verified = cfg.interface(&r.from_interface).is_some_and(|ifc| {
                ifc.tls.as_ref().is_some_and(|t| t.client_ca.is_some())
                    && ifc.listen.iter().any(|l| l.transport == Transport::Tls)
            });
            if !verified {
                return fail(
                    p.key("from_certificates"),
                    "needs a tls listener with [interface.tls] client_ca on from_interface (certificates must be verified)",
                );
            }
            if let Some((k, n)) = r
                .from_certificates
                .iter()
                .enumerate()
                .find(|(_, n)| ServerName::try_from(n.as_str()).is_err())
            {
                return fail(
                    p.key("from_certificates").at(k),
                    format!("{n:?} is not a DNS name or IP address"),
                );
            }
        }
        let Some(t) = &r.tls else {
            // A TLS next hop given by name is verified against that name with the system roots.
            if r.hop_transport() == Transport::Tls && r.next_hop.name().is_none() {
                return fail(
                    p.key("transport"),
                    "transport = \"tls\" needs [route.tls] with server_name (the name the next hop's certificate carries)",
                );
            }
            continue;
        };
        let tp = p.key("tls");
        if r.hop_transport() != Transport::Tls {
            return fail(tp, "only used with transport = \"tls\"");
        }
        if t.server_name.is_empty() && r.next_hop.name().is_none() {
            return fail(
                tp.key("server_name"),
                "needed when next_hop is an address (the name the next hop's certificate carries)",
            );
        }
        check_client(t, &tp)?;
    }
    for (i, r) in cfg.realms.iter().enumerate() {
        let p = FieldPath::new("realm").at(i);
        if r.registrar_transport.is_websocket() {
            return fail(
                p.key("registrar_transport"),
                "ws and wss are for listeners; a registrar is reached over udp, tcp or tls",
            );
        }
        let tls_forward = r.mode == RealmMode::Forward && r.registrar_transport == Transport::Tls;
        match (&r.tls, tls_forward) {
            (None, true) => {
                return fail(
                    p.key("registrar_transport"),
                    "registrar_transport = \"tls\" needs [realm.tls] with server_name (the name the registrar's certificate carries)",
                )
            }
            (Some(_), false) => {
                return fail(
                    p.key("tls"),
                    "only used with mode = \"forward\" and registrar_transport = \"tls\"",
                )
            }
            (Some(t), true) if t.server_name.is_empty() => {
                return fail(
                    p.key("tls").key("server_name"),
                    "needed: the name the registrar's certificate carries",
                )
            }
            (Some(t), true) => check_client(t, &p.key("tls"))?,
            (None, false) => {}
        }
    }
    Ok(())
}

/// Checks a `[route.tls]` or `[realm.tls]` at `tp`: the server name parses, the files read.
fn check_client(t: &TlsClient, tp: &FieldPath) -> Check {
    if !t.server_name.is_empty() && ServerName::try_from(t.server_name.as_str()).is_err() {
        return fail(
            tp.key("server_name"),
            format!("{:?} is not a DNS name or IP address", t.server_name),
        );
    }
    if let Some(ca) = &t.ca {
        read_certificates(ca).or_else(|e| fail(tp.key("ca"), e))?;
    }
    match (&t.certificate, &t.private_key) {
        (Some(c), Some(k)) => {
            read_certificates(c).or_else(|e| fail(tp.key("certificate"), e))?;
            read_private_key(k).or_else(|e| fail(tp.key("private_key"), e))?;
        }
        (Some(_), None) => return fail(tp.key("private_key"), "needed with certificate"),
        (None, Some(_)) => return fail(tp.key("certificate"), "needed with private_key"),
        (None, None) => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::{Config, ConfigError};
    use std::path::PathBuf;

    /// `config/testdata/tls`: a self-signed P-256 certificate for `config.test` (valid until
    /// 2126) and its key, copied to a fresh directory: (dir, cert path, key path).
    fn files(name: &str) -> (PathBuf, PathBuf, PathBuf) {
        let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/tls");
        let dir =
            std::env::temp_dir().join(format!("sbc-config-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::copy(src.join("cert.pem"), &c).unwrap();
        std::fs::copy(src.join("key.pem"), &k).unwrap();
        (dir, c, k)
    }

    fn config(listen: &str, tls: &str, route: &str) -> String {
        format!(
            "[[interface]]\nname = \"customer\"\nlisten = [{listen}]\nrtp_port_min = 20000\nrtp_port_max = 20999\n{tls}\n\
             [[interface]]\nname = \"core\"\nlisten = [{{ transport = \"udp\", address = \"127.0.0.1:5080\" }}]\nrtp_port_min = 30000\nrtp_port_max = 30999\n\n\
             [[route]]\nname = \"a\"\nfrom_interface = \"core\"\nnext_hop = \"127.0.0.1:5091\"\nto_interface = \"customer\"\n{route}\n"
        )
    }

    fn err(text: &str) -> (String, Option<usize>, String) {
        let e: ConfigError = Config::from_toml_str(text, "t.toml").unwrap_err();
        (
            e.field().unwrap_or_default().to_owned(),
            e.line(),
            e.to_string(),
        )
    }

    const TLS_LISTEN: &str = "{ transport = \"udp\", address = \"127.0.0.1:5060\" }, { transport = \"tls\", address = \"127.0.0.1:5061\" }";

    #[test]
    fn a_tls_listener_with_its_certificate_and_key_loads() {
        let (_, c, k) = files("ok");
        let tls = format!("[interface.tls]\ncertificate = {c:?}\nprivate_key = {k:?}\n");
        let cfg = Config::from_toml_str(&config(TLS_LISTEN, &tls, ""), "t.toml").unwrap();
        assert!(cfg.interfaces[0].tls.is_some());
    }

    #[test]
    fn tls_errors_name_the_field_and_the_file() {
        let (dir, c, k) = files("bad");
        // A tls listener without [interface.tls].
        let (field, line, _) = err(&config(TLS_LISTEN, "", ""));
        assert_eq!(field, "interface.customer.listen[1].transport");
        assert_eq!(line, Some(3));
        // A missing file, and a key file in place of the certificate.
        let missing = dir.join("nope.pem");
        let tls = format!("[interface.tls]\ncertificate = {missing:?}\nprivate_key = {k:?}\n");
        let (field, line, msg) = err(&config(TLS_LISTEN, &tls, ""));
        assert_eq!(field, "interface.customer.tls.certificate");
        assert_eq!(line, Some(7));
        assert!(
            msg.contains("nope.pem") && msg.contains("cannot read"),
            "{msg}"
        );
        let tls = format!("[interface.tls]\ncertificate = {k:?}\nprivate_key = {k:?}\n");
        let (field, _, msg) = err(&config(TLS_LISTEN, &tls, ""));
        assert_eq!(field, "interface.customer.tls.certificate");
        assert!(msg.contains("no CERTIFICATE"), "{msg}");
        let tls = format!("[interface.tls]\ncertificate = {c:?}\nprivate_key = {c:?}\n");
        let (field, _, msg) = err(&config(TLS_LISTEN, &tls, ""));
        assert_eq!(field, "interface.customer.tls.private_key");
        assert!(msg.contains("no usable private key"), "{msg}");
    }

    #[test]
    fn trusting_certificate_names_needs_verified_client_certificates() {
        let (_, c, k) = files("names");
        let route = "from_certificates = [\"trunk.example.net\"]";
        // `from_interface` is "core" in `config`: it has no tls listener.
        let tls = format!("[interface.tls]\ncertificate = {c:?}\nprivate_key = {k:?}\n");
        let text = config(TLS_LISTEN, &tls, route)
            .replace("from_interface = \"core\"", "from_interface = \"customer\"");
        // The customer listener is TLS but requires no client certificate.
        assert_eq!(err(&text).0, "route[0].from_certificates");
        let tls = format!("{tls}client_ca = {c:?}\n");
        let text = config(TLS_LISTEN, &tls, route)
            .replace("from_interface = \"core\"", "from_interface = \"customer\"")
            .replace("to_interface = \"customer\"", "to_interface = \"core\"");
        Config::from_toml_str(&text, "t.toml").unwrap();
        let bad = text.replace("trunk.example.net", "not a name!");
        assert_eq!(err(&bad).0, "route[0].from_certificates[0]");
    }

    #[test]
    fn a_tls_route_needs_a_server_name_and_both_halves_of_a_client_certificate() {
        let (_, c, k) = files("route");
        let tls = format!("[interface.tls]\ncertificate = {c:?}\nprivate_key = {k:?}\n");
        let (field, _, msg) = err(&config(TLS_LISTEN, &tls, "transport = \"tls\""));
        assert_eq!(field, "route[0].transport");
        assert!(msg.contains("server_name"), "{msg}");
        let route = "transport = \"tls\"\n[route.tls]\nserver_name = \"not a name!\"";
        assert_eq!(
            err(&config(TLS_LISTEN, &tls, route)).0,
            "route[0].tls.server_name"
        );
        let route = format!("transport = \"tls\"\n[route.tls]\nserver_name = \"trunk.example.net\"\ncertificate = {c:?}");
        assert_eq!(
            err(&config(TLS_LISTEN, &tls, &route)).0,
            "route[0].tls.private_key"
        );
        let route = "[route.tls]\nserver_name = \"trunk.example.net\"";
        assert_eq!(err(&config(TLS_LISTEN, &tls, route)).0, "route[0].tls");
        let route =
            format!("transport = \"tls\"\n[route.tls]\nserver_name = \"192.0.2.7\"\nca = {c:?}");
        Config::from_toml_str(&config(TLS_LISTEN, &tls, &route), "t.toml").unwrap();
    }

    #[test]
    fn a_forward_realm_over_tls_needs_realm_tls_to_verify_the_registrar() {
        let (_, c, k) = files("realm");
        let tls = format!("[interface.tls]\ncertificate = {c:?}\nprivate_key = {k:?}\n");
        let realm = "[[realm]]\ndomain = \"example.com\"\nmode = \"forward\"\nregistrar = \"127.0.0.1:5071\"\nregistrar_interface = \"customer\"\nauth_required = false\nregistrar_transport = \"tls\"\n";
        let base = config(TLS_LISTEN, &tls, "");
        let (field, line, msg) = err(&format!("{base}{realm}"));
        assert_eq!(field, "realm[0].registrar_transport", "{msg}");
        assert_eq!(line, Some(base.matches('\n').count() + 7), "{msg}");
        let with =
            format!("{base}{realm}[realm.tls]\nserver_name = \"registrar.test\"\nca = {c:?}\n");
        let cfg = Config::from_toml_str(&with, "t.toml").unwrap();
        assert_eq!(
            cfg.realms[0].tls.as_ref().unwrap().server_name,
            "registrar.test"
        );
        let bad = with.replace("registrar.test", "not a name");
        assert_eq!(err(&bad).0, "realm[0].tls.server_name");
        let udp = with.replace("registrar_transport = \"tls\"\n", "");
        assert_eq!(err(&udp).0, "realm[0].tls");
    }
}
