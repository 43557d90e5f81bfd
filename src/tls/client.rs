//! The client side: one [`Client`] (a rustls configuration and the name to verify), shared by
//! every https client in promlet. Built from Prometheus's `tls_config` keys by
//! [`client_config`](super::client_config) (the proxy's upstreams, push's remotes), or over
//! given roots by [`client_with_roots`] (Packet SD).

use std::fmt;
use std::sync::Arc;

#[cfg(any(feature = "proxy", feature = "push"))]
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::RootCertStore;

/// A built client: the rustls configuration and, if `server_name` was set, the name to use
/// instead of the URL's host.
#[derive(Clone)]
pub struct Client {
    pub(super) config: Arc<rustls::ClientConfig>,
    pub(super) server_name: Option<ServerName<'static>>,
}

impl Client {
    /// A connection to `host` (the URL's), verified as `server_name` when that is set.
    pub fn connection(&self, host: &str) -> Result<rustls::ClientConnection, String> {
        let name = match &self.server_name {
            Some(n) => n.clone(),
            None => ServerName::try_from(host.to_string()).map_err(|e| format!("{host}: {e}"))?,
        };
        rustls::ClientConnection::new(self.config.clone(), name).map_err(|e| e.to_string())
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

/// Two clients are equal when they are the same build (configs compare by identity).
impl PartialEq for Client {
    fn eq(&self, o: &Client) -> bool {
        Arc::ptr_eq(&self.config, &o.config) && self.server_name == o.server_name
    }
}

/// A client over these roots and nothing else (Packet SD: the system roots plus its CA files).
#[cfg(feature = "packet-sd")]
pub fn client_with_roots(roots: RootCertStore) -> Result<Client, String> {
    Ok(Client {
        config: build(Verify::Roots(Arc::new(roots)), None)?,
        server_name: None,
    })
}

/// How the server's certificate is checked.
pub(super) enum Verify {
    Roots(Arc<RootCertStore>),
    /// Not against roots (`insecure_skip_verify`).
    #[cfg(any(feature = "proxy", feature = "push"))]
    Custom(Arc<dyn ServerCertVerifier>),
}

pub(super) type Identity = (
    Vec<CertificateDer<'static>>,
    rustls::pki_types::PrivateKeyDer<'static>,
);

pub(super) fn build(
    verify: Verify,
    identity: Option<Identity>,
) -> Result<Arc<rustls::ClientConfig>, String> {
    let b = rustls::ClientConfig::builder_with_provider(Arc::new(super::provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls_config: {e}"))?;
    let b = match verify {
        Verify::Roots(r) => b.with_root_certificates(r),
        #[cfg(any(feature = "proxy", feature = "push"))]
        Verify::Custom(v) => b.dangerous().with_custom_certificate_verifier(v),
    };
    let cfg = match identity {
        None => b.with_no_client_auth(),
        Some((certs, key)) => b
            .with_client_auth_cert(certs, key)
            .map_err(|e| format!("tls_config: cert_file/key_file: {e}"))?,
    };
    Ok(Arc::new(cfg))
}
