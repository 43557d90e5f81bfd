//! Prometheus's `tls_config` for a client ([`ClientOptions`]) and the [`Client`] built from it:
//! the https clients configured by file (the proxy's upstreams, push's remotes). Packet SD
//! builds its client over its own roots instead ([`client_with_roots`](super::client_with_roots)).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde::Deserialize;

use super::client::{build, Client, Verify};

/// Prometheus's `tls_config` for a client (the keys promlet honours; any other is refused when
/// the file is read). Paths are taken as given: callers resolve them against their file's
/// folder first ([`ClientOptions::relative_to`]).
#[derive(Deserialize, Debug, Default, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClientOptions {
    /// The CA that signs the server's certificate, instead of the system roots.
    pub ca_file: Option<PathBuf>,
    /// A client certificate to present, with its key.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// The name sent as SNI and checked against the server's certificate, instead of the URL's
    /// host.
    pub server_name: Option<String>,
    /// Accept any server certificate (still checking the handshake's signatures).
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

impl ClientOptions {
    /// The same options with relative paths taken under `base`.
    pub fn relative_to(&self, base: &Path) -> ClientOptions {
        let r = |p: &Option<PathBuf>| p.as_deref().map(|p| crate::config::resolve(base, p));
        ClientOptions {
            ca_file: r(&self.ca_file),
            cert_file: r(&self.cert_file),
            key_file: r(&self.key_file),
            server_name: self.server_name.clone(),
            insecure_skip_verify: self.insecure_skip_verify,
        }
    }
}

/// Builds the client for `o`. With no option set, every caller shares one configuration
/// over the system roots.
pub fn client_config(o: &ClientOptions) -> Result<Client, String> {
    let server_name = match o.server_name.as_deref().filter(|s| !s.is_empty()) {
        Some(n) => Some(
            ServerName::try_from(n.to_string())
                .map_err(|e| format!("tls_config: server_name {n:?}: {e}"))?,
        ),
        None => None,
    };
    let identity = match (&o.cert_file, &o.key_file) {
        (None, None) => None,
        (Some(c), Some(k)) => Some((super::load_certs(c)?, super::load_key(k)?)),
        _ => return Err("tls_config: cert_file and key_file go together".into()),
    };
    if o.insecure_skip_verify {
        static WARNED: AtomicBool = AtomicBool::new(false);
        if !WARNED.swap(true, Ordering::Relaxed) {
            crate::warn!(
                "tls_config: insecure_skip_verify is set: server certificates are not checked"
            );
        }
    }
    if !o.insecure_skip_verify && o.ca_file.is_none() && identity.is_none() {
        static DEFAULT: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
        let config = DEFAULT
            .get_or_init(|| build(Verify::Roots(super::roots::system()?), None))
            .clone()?;
        return Ok(Client {
            config,
            server_name,
        });
    }
    let verify = if o.insecure_skip_verify {
        Verify::Custom(Arc::new(AnyServer {
            algs: super::provider().signature_verification_algorithms,
        }))
    } else if let Some(ca) = &o.ca_file {
        Verify::Roots(Arc::new(super::load_roots(ca)?))
    } else {
        Verify::Roots(super::roots::system()?)
    };
    Ok(Client {
        config: build(verify, identity)?,
        server_name,
    })
}

/// `insecure_skip_verify`: any certificate, any name; the handshake's signatures are still
/// checked, so the peer holds the key of the certificate it sent.
#[derive(Debug)]
struct AnyServer {
    algs: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_refuse_unknown_keys_and_half_identities() {
        let o: ClientOptions = serde_json::from_str(
            r#"{"ca_file": "ca.pem", "server_name": "h", "insecure_skip_verify": true}"#,
        )
        .unwrap();
        assert_eq!(o.ca_file.as_deref(), Some(Path::new("ca.pem")));
        assert_eq!(
            o.relative_to(Path::new("/etc/p")).ca_file.as_deref(),
            Some(Path::new("/etc/p/ca.pem"))
        );
        assert!(serde_json::from_str::<ClientOptions>(r#"{"ca_fil": "x"}"#).is_err());
        let half = ClientOptions {
            cert_file: Some("c.pem".into()),
            ..Default::default()
        };
        assert!(client_config(&half).unwrap_err().contains("go together"));
        let bad_name = ClientOptions {
            server_name: Some("a b".into()),
            insecure_skip_verify: true,
            ..Default::default()
        };
        assert!(client_config(&bad_name)
            .unwrap_err()
            .contains("server_name"));
        let insecure = ClientOptions {
            insecure_skip_verify: true,
            server_name: Some("localhost".into()),
            ..Default::default()
        };
        let c = client_config(&insecure).unwrap();
        assert!(c.connection("127.0.0.1").is_ok());
    }
}
