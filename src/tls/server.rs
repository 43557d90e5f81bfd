//! The server side of the web config's `tls_server_config` (exporter-toolkit's keys): Go's
//! names (client_auth_type, TLS12, cipher suite and curve names) are mapped to rustls here;
//! what rustls cannot do is refused at start. The server's poller drives each handshake on
//! the non-blocking socket ([`Conn::handshake`]).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

use super::{load_certs, load_key, load_roots};
use crate::config::resolve;
use crate::httpd::{Conn, TlsAcceptor};
use crate::webconfig::TlsServerConfig;

fn version(s: &str) -> Result<u8, String> {
    match s {
        "TLS12" => Ok(12),
        "TLS13" => Ok(13),
        "TLS10" | "TLS11" => Err(format!(
            "{s} is not supported: promlet speaks TLS 1.2 and 1.3 only"
        )),
        _ => Err(format!("unknown TLS version {s:?} (TLS12 or TLS13)")),
    }
}

/// The server side of a `tls_server_config`. Relative paths are relative to `base` (the web
/// config file's folder), as in exporter-toolkit.
pub fn acceptor(c: &TlsServerConfig, base: &Path) -> Result<Acceptor, String> {
    let cert_file = c
        .cert_file
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or("tls_server_config: missing cert_file")?;
    let key_file = c
        .key_file
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or("tls_server_config: missing key_file")?;
    let certs = load_certs(&resolve(base, Path::new(cert_file)))?;
    let key = load_key(&resolve(base, Path::new(key_file)))?;
    let versions = versions(c)?;
    let prov = Arc::new(server_provider(c)?);
    let verifier = client_verifier(c, base, &prov)?;
    let builder = rustls::ServerConfig::builder_with_provider(prov)
        .with_protocol_versions(&versions)
        .map_err(|e| format!("tls_server_config: {e}"))?;
    let builder = match verifier {
        Some(v) => builder.with_client_cert_verifier(v),
        None => builder.with_no_client_auth(),
    };
    let mut cfg = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("cert_file/key_file: {e}"))?;
    cfg.ignore_client_order = c.prefer_server_cipher_suites.unwrap_or(true);
    Ok(Acceptor {
        cfg: Arc::new(cfg),
        sans: Arc::new(c.client_allowed_sans.clone().unwrap_or_default()),
    })
}

/// `min_version` and `max_version` (TLS 1.2 and 1.3 by default) as rustls's version list.
fn versions(c: &TlsServerConfig) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, String> {
    let min = version(c.min_version.as_deref().unwrap_or("TLS12"))?;
    let max = version(c.max_version.as_deref().unwrap_or("TLS13"))?;
    if min > max {
        return Err("min_version is above max_version".into());
    }
    let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
    if min <= 12 {
        versions.push(&rustls::version::TLS12);
    }
    if max >= 13 {
        versions.push(&rustls::version::TLS13);
    }
    Ok(versions)
}

/// The one provider narrowed to `cipher_suites` and `curve_preferences`, Go's names.
fn server_provider(c: &TlsServerConfig) -> Result<rustls::crypto::CryptoProvider, String> {
    let mut prov = super::provider();
    if let Some(names) = &c.cipher_suites {
        // As in Go, the list applies to TLS 1.2; TLS 1.3 suites are always on.
        let mut keep: Vec<rustls::SupportedCipherSuite> = prov
            .cipher_suites
            .iter()
            .filter(|s| s.version() == &rustls::version::TLS13)
            .copied()
            .collect();
        for n in names {
            let s = prov
                .cipher_suites
                .iter()
                .find(|s| format!("{:?}", s.suite()) == *n)
                .ok_or_else(|| {
                    format!("cipher suite {n:?} is not supported by promlet (rustls)")
                })?;
            keep.push(*s);
        }
        prov.cipher_suites = keep;
    }
    if let Some(curves) = &c.curve_preferences {
        use rustls::crypto::ring::kx_group;
        let mut groups: Vec<&'static dyn rustls::crypto::SupportedKxGroup> = Vec::new();
        for n in curves {
            groups.push(match n.as_str() {
                "X25519" => kx_group::X25519,
                "CurveP256" => kx_group::SECP256R1,
                "CurveP384" => kx_group::SECP384R1,
                _ => {
                    return Err(format!(
                        "curve {n:?} is not supported (X25519, CurveP256, CurveP384)"
                    ))
                }
            });
        }
        prov.kx_groups = groups;
    }
    Ok(prov)
}

/// `client_auth_type` with `client_ca_file` and `client_allowed_sans`: how client certificates
/// are asked for and checked (None: not asked for).
fn client_verifier(
    c: &TlsServerConfig,
    base: &Path,
    prov: &Arc<rustls::crypto::CryptoProvider>,
) -> Result<Option<Arc<dyn ClientCertVerifier>>, String> {
    let roots = match c.client_ca_file.as_deref().filter(|s| !s.is_empty()) {
        Some(f) => Some(Arc::new(load_roots(&resolve(base, Path::new(f)))?)),
        None => None,
    };
    let auth = c.client_auth_type.as_deref().unwrap_or("");
    let algs = prov.signature_verification_algorithms;
    let verifier: Option<Arc<dyn ClientCertVerifier>> = match auth {
        "" | "NoClientCert" => {
            if roots.is_some() {
                return Err("client_ca_file is set but client_auth_type does not ask for client certificates".into());
            }
            None
        }
        "RequestClientCert" => Some(Arc::new(AnyCert {
            mandatory: false,
            algs,
        })),
        "RequireAnyClientCert" | "RequireClientCert" => Some(Arc::new(AnyCert {
            mandatory: true,
            algs,
        })),
        "VerifyClientCertIfGiven" | "RequireAndVerifyClientCert" => {
            let roots = roots
                .clone()
                .ok_or_else(|| format!("client_auth_type {auth} needs client_ca_file"))?;
            let b = WebPkiClientVerifier::builder_with_provider(roots, prov.clone());
            let b = if auth == "VerifyClientCertIfGiven" {
                b.allow_unauthenticated()
            } else {
                b
            };
            Some(b.build().map_err(|e| format!("client_ca_file: {e}"))?)
        }
        other => return Err(format!("unknown client_auth_type {other:?}")),
    };
    let sans = c.client_allowed_sans.as_deref().unwrap_or_default();
    if !sans.is_empty()
        && !matches!(
            auth,
            "VerifyClientCertIfGiven" | "RequireAndVerifyClientCert"
        )
    {
        return Err("client_allowed_sans needs a verifying client_auth_type".into());
    }
    Ok(verifier)
}

/// Accepts any client certificate (RequestClientCert, RequireAnyClientCert) but still checks
/// that the client holds its key.
#[derive(Debug)]
struct AnyCert {
    mandatory: bool,
    algs: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyCert {
    fn offer_client_auth(&self) -> bool {
        true
    }
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }
    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// The server's TLS acceptor.
pub struct Acceptor {
    cfg: Arc<rustls::ServerConfig>,
    /// client_allowed_sans: the verified client certificate must name one of these.
    sans: Arc<Vec<String>>,
}

/// A server-side TLS connection. The server's poller drives the handshake on the non-blocking
/// socket ([`Conn::handshake`]); afterwards reads and writes go through rustls's stream.
struct TlsConn {
    s: rustls::StreamOwned<rustls::ServerConnection, TcpStream>,
    sans: Arc<Vec<String>>,
    subject: Option<String>,
}

impl Read for TlsConn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.s.read(buf) {
            // A client that closes without close_notify is just a closed connection here.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
            r => r,
        }
    }
}

impl Write for TlsConn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.s.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.s.flush()
    }
}

impl Conn for TlsConn {
    fn tcp(&self) -> &TcpStream {
        &self.s.sock
    }
    fn client_cert(&self) -> Option<String> {
        self.subject.clone()
    }
    fn handshake(&mut self) -> io::Result<bool> {
        let (conn, sock) = (&mut self.s.conn, &mut self.s.sock);
        loop {
            while conn.wants_write() {
                match conn.write_tls(sock) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            if !conn.is_handshaking() {
                break;
            }
            match conn.read_tls(sock) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(_) => {
                    if let Err(e) = conn.process_new_packets() {
                        // rustls queued an alert saying why; send it if the socket takes it.
                        let _ = conn.write_tls(sock);
                        return Err(io::Error::new(io::ErrorKind::InvalidData, e));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let leaf = conn.peer_certificates().and_then(|c| c.first()).cloned();
        if !self.sans.is_empty() {
            let ok = leaf.as_ref().is_some_and(|l| cert_has_san(l, &self.sans));
            if !ok {
                conn.send_close_notify();
                let _ = conn.write_tls(sock);
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    "client certificate names none of client_allowed_sans",
                ));
            }
        }
        self.subject = leaf.as_ref().and_then(|l| subject_cn(l));
        Ok(true)
    }
    fn wants_write(&self) -> bool {
        self.s.conn.wants_write()
    }
    fn close_notify(&mut self) {
        self.s.conn.send_close_notify();
        let _ = self.s.conn.write_tls(&mut self.s.sock);
    }
}

impl TlsAcceptor for Acceptor {
    fn accept(&self, tcp: TcpStream) -> io::Result<Box<dyn Conn>> {
        let conn = rustls::ServerConnection::new(self.cfg.clone()).map_err(io::Error::other)?;
        Ok(Box::new(TlsConn {
            s: rustls::StreamOwned::new(conn, tcp),
            sans: self.sans.clone(),
            subject: None,
        }))
    }
}

/// True if the certificate's subjectAltName holds one of `sans` (DNS names and IP addresses).
fn cert_has_san(cert: &CertificateDer<'_>, sans: &[String]) -> bool {
    let Ok(ee) = webpki::EndEntityCert::try_from(cert) else {
        return false;
    };
    sans.iter().any(|s| {
        ServerName::try_from(s.as_str())
            .is_ok_and(|n| ee.verify_is_valid_for_subject_name(&n).is_ok())
    })
}

/// `CN=...` of the certificate's subject, from a minimal DER walk (RFC 5280 §4.1): the
/// server logs and passes it on; nothing depends on it for security.
pub(crate) fn subject_cn(cert: &CertificateDer<'_>) -> Option<String> {
    fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let tag = *b.first()?;
        let l0 = *b.get(1)? as usize;
        let (len, hdr) = if l0 < 0x80 {
            (l0, 2)
        } else {
            let n = l0 & 0x7f;
            if n == 0 || n > 4 {
                return None;
            }
            let mut len = 0usize;
            for i in 0..n {
                len = (len << 8) | *b.get(2 + i)? as usize;
            }
            (len, 2 + n)
        };
        // Checked: four length bytes overflow `hdr + len` where usize has 32 bits (mipsel).
        let end = hdr.checked_add(len)?;
        Some((tag, b.get(hdr..end)?, b.get(end..)?))
    }
    let (_, cert_body, _) = tlv(cert.as_ref())?;
    let (_, mut tbs, _) = tlv(cert_body)?;
    // [0] version is optional; then serial, signature, issuer, validity, subject.
    let mut fields = Vec::new();
    while !tbs.is_empty() && fields.len() < 7 {
        let (tag, body, rest) = tlv(tbs)?;
        fields.push((tag, body));
        tbs = rest;
    }
    let skip = usize::from(fields.first()?.0 == 0xa0);
    let (_, mut subject) = *fields.get(skip + 4)?;
    while !subject.is_empty() {
        let (_, set, rest) = tlv(subject)?;
        subject = rest;
        let (_, atv, _) = tlv(set)?;
        let (_, oid, rest) = tlv(atv)?;
        if oid == [0x55, 0x04, 0x03] {
            let (_, v, _) = tlv(rest)?;
            return Some(format!("CN={}", String::from_utf8_lossy(v)));
        }
    }
    None
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_cn_of_a_certificate_and_of_garbage() {
        // Made with `openssl req -x509` (fuzz/seeds/README.md).
        let der = include_bytes!("../../fuzz/seeds/web_config/client-cert.der");
        let cert = CertificateDer::from(der.to_vec());
        assert_eq!(subject_cn(&cert).as_deref(), Some("CN=prometheus"));
        // Cut anywhere, the walk ends in None, never out of bounds.
        for n in 0..der.len() {
            let _ = subject_cn(&CertificateDer::from(der[..n].to_vec()));
        }
        // A four-byte length of 0xffffffff: `hdr + len` overflows a 32-bit usize.
        let huge = CertificateDer::from(vec![0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x30]);
        assert_eq!(subject_cn(&huge), None);
    }
}
