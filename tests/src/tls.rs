//! TLS for the end-to-end tests: a throw-away CA and certificates made with the `openssl` command,
//! and a blocking SIP peer over rustls that frames what it reads by Content-Length (RFC 3261
//! §18.3), as a TLS phone or trunk would.

use crate::tcp::{message_until, next_frame, next_message};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};
use rustls::{ConnectionCommon, StreamOwned};
use sbc_common::sip::{Message, StreamFramer};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A CA and certificates it signed, as PEM files in one directory.
#[derive(Clone, Debug)]
pub struct Pki {
    /// The directory holding the files.
    pub dir: PathBuf,
    /// The CA certificate.
    pub ca: PathBuf,
}

impl Pki {
    /// A new CA in `dir` (RSA 2048, valid a day).
    pub fn new(dir: &Path) -> Self {
        let ca = dir.join("ca.pem");
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=SBC test CA",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
            ],
        );
        Self {
            dir: dir.to_path_buf(),
            ca,
        }
    }

    /// A certificate for `name` (DNS name, plus IP 127.0.0.1) signed by the CA: (certificate
    /// chain file, key file).
    pub fn issue(&self, name: &str) -> (PathBuf, PathBuf) {
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        let crt = format!("{name}.pem");
        let ext = format!("{name}.ext");
        std::fs::write(
            self.dir.join(&ext),
            format!(
                "subjectAltName=DNS:{name},IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n"
            ),
        )
        .expect("write ext");
        openssl(
            &self.dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                &format!("/CN={name}"),
                "-keyout",
                &key,
                "-out",
                &csr,
            ],
        );
        openssl(
            &self.dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "1",
                "-extfile",
                &ext,
                "-out",
                &crt,
            ],
        );
        (self.dir.join(crt), self.dir.join(key))
    }

    /// A client configuration trusting this CA only.
    pub fn client(&self) -> Arc<ClientConfig> {
        Arc::new(
            ClientConfig::builder()
                .with_root_certificates(self.roots())
                .with_no_client_auth(),
        )
    }

    /// A client configuration trusting this CA and presenting `cert` with `key` (mutual TLS).
    pub fn client_with(&self, cert: &Path, key: &Path) -> Arc<ClientConfig> {
        let key = PrivateKeyDer::from_pem_file(key).expect("key");
        Arc::new(
            ClientConfig::builder()
                .with_root_certificates(self.roots())
                .with_client_auth_cert(certs(cert), key)
                .expect("client certificate"),
        )
    }

    /// A server configuration presenting `cert` with `key` that requires a client certificate
    /// signed by this CA.
    pub fn server_requiring_clients(&self, cert: &Path, key: &Path) -> Arc<ServerConfig> {
        let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(self.roots()))
            .build()
            .expect("client verifier");
        let key = PrivateKeyDer::from_pem_file(key).expect("key");
        Arc::new(
            ServerConfig::builder()
                .with_client_cert_verifier(verifier)
                .with_single_cert(certs(cert), key)
                .expect("server config"),
        )
    }

    fn roots(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        for c in certs(&self.ca) {
            roots.add(c).expect("CA certificate");
        }
        roots
    }
}

/// A server configuration presenting `cert` with `key`.
pub fn server_config(cert: &Path, key: &Path) -> Arc<ServerConfig> {
    let key = PrivateKeyDer::from_pem_file(key).expect("key");
    Arc::new(
        ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(certs(cert), key)
            .expect("server config"),
    )
}

fn certs(path: &Path) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(path)
        .expect("certificate file")
        .collect::<Result<_, _>>()
        .expect("certificates")
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl (apt-get install -y openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A SIP peer on a TLS connection, client or server side.
pub struct TlsPeer<C> {
    stream: StreamOwned<C, TcpStream>,
    framer: StreamFramer,
}

impl TlsPeer<ClientConnection> {
    /// Connects to `to` and completes the handshake, verifying the server as `name`.
    pub fn connect(to: SocketAddr, name: &str, config: Arc<ClientConfig>) -> std::io::Result<Self> {
        let tcp = TcpStream::connect_timeout(&to, Duration::from_secs(5))?;
        let name = ServerName::try_from(name.to_owned()).expect("server name");
        let conn = ClientConnection::new(config, name).map_err(std::io::Error::other)?;
        let mut peer = Self::wrap(StreamOwned::new(conn, tcp));
        peer.handshake()?;
        Ok(peer)
    }
}

impl TlsPeer<ServerConnection> {
    /// Accepts the next connection on `listener` (within `timeout`) and completes the
    /// handshake as the server.
    pub fn accept(
        listener: &TcpListener,
        config: Arc<ServerConfig>,
        timeout: Duration,
    ) -> std::io::Result<Self> {
        listener.set_nonblocking(true)?;
        let end = Instant::now() + timeout;
        let tcp = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < end => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(e),
            }
        };
        tcp.set_nonblocking(false)?;
        let conn = ServerConnection::new(config).map_err(std::io::Error::other)?;
        let mut peer = Self::wrap(StreamOwned::new(conn, tcp));
        peer.handshake()?;
        Ok(peer)
    }
}

impl<C, S> TlsPeer<C>
where
    C: std::ops::DerefMut<Target = ConnectionCommon<S>>,
    S: rustls::SideData,
{
    fn wrap(stream: StreamOwned<C, TcpStream>) -> Self {
        stream
            .sock
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        Self {
            stream,
            framer: StreamFramer::new(1 << 20),
        }
    }

    fn handshake(&mut self) -> std::io::Result<()> {
        let StreamOwned { conn, sock } = &mut self.stream;
        while conn.is_handshaking() {
            conn.complete_io(sock)?;
        }
        Ok(())
    }

    /// The certificate the peer presented (its leaf), DER.
    pub fn peer_leaf(&self) -> Option<Vec<u8>> {
        self.stream
            .conn
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.as_ref().to_vec())
    }

    /// The negotiated protocol version, e.g. `TLSv1_3`.
    pub fn version(&self) -> Option<rustls::ProtocolVersion> {
        self.stream.conn.protocol_version()
    }

    /// Writes one message.
    pub fn send(&mut self, m: &Message) {
        self.stream.write_all(&m.to_bytes()).expect("tls write");
        self.stream.flush().expect("tls flush");
    }

    /// The next SIP message within `timeout` (keep-alives skipped); `None` on timeout or close.
    pub fn recv(&mut self, timeout: Duration) -> Option<Message> {
        let (framer, stream) = (&mut self.framer, &mut self.stream);
        next_message(timeout, |left| {
            next_frame(framer, left, |left, buf| {
                stream
                    .sock
                    .set_read_timeout(Some(left.max(Duration::from_millis(1))))?;
                stream.read(buf)
            })
        })
    }

    /// The next SIP message for which `want` holds, within `timeout`.
    pub fn recv_until(
        &mut self,
        timeout: Duration,
        want: impl FnMut(&Message) -> bool,
    ) -> Option<Message> {
        message_until(timeout, |left| self.recv(left), want)
    }

    /// The local address of the connection.
    pub fn local(&self) -> SocketAddr {
        self.stream.sock.local_addr().expect("local addr")
    }
}
