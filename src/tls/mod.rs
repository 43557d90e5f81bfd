//! promlet's one TLS module (rustls with the ring provider): trust roots ([`roots`]), the
//! PEM loader for certificates and keys, the client configuration every https client uses
//! ([`client_config`], from Prometheus-style `tls_config` keys: the proxy's upstreams, Packet
//! SD's API, push), and the server side of the web config's `tls_server_config`
//! ([`acceptor`]).
//!
//! What rustls cannot do (TLS 1.0/1.1, a cipher suite it lacks) is refused when the
//! configuration is built, never silently ignored.

use std::path::Path;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::RootCertStore;

// The client side, for every https client (the proxy's upstreams, Packet SD's API, push).
#[cfg(any(feature = "proxy", feature = "packet-sd", feature = "push"))]
mod client;
// Prometheus's `tls_config` keys, which the proxy's and push's files have (Packet SD's has not).
#[cfg(any(feature = "proxy", feature = "push"))]
mod options;
#[cfg(any(feature = "proxy", feature = "packet-sd", feature = "push"))]
pub mod roots;
mod server;

#[cfg(feature = "packet-sd")]
pub use client::client_with_roots;
#[cfg(any(feature = "proxy", feature = "packet-sd", feature = "push"))]
pub use client::Client;
#[cfg(any(feature = "proxy", feature = "push"))]
pub use options::{client_config, ClientOptions};
pub use server::acceptor;
pub(crate) use server::subject_cn;

/// The one crypto provider, for clients and the server: ring (aws-lc-rs needs cmake and is
/// larger).
pub fn provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// The largest PEM file read (a distribution bundle is about 200 KiB).
const MAX_PEM: u64 = 16 << 20;

fn read_pem(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut data = Vec::new();
    f.take(MAX_PEM + 1)
        .read_to_end(&mut data)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if data.len() as u64 > MAX_PEM {
        return Err(format!(
            "{}: larger than {MAX_PEM} bytes, not a PEM file",
            path.display()
        ));
    }
    Ok(data)
}

/// Every certificate of a PEM file (other sections, such as keys, are skipped); a file with
/// none is an error.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read_pem(path)?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate in the file", path.display()));
    }
    Ok(certs)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) of a PEM file.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let pem = read_pem(path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| format!("{}: {e}", path.display()))
}

/// A root store holding every certificate of a PEM file (a `ca_file`).
pub fn load_roots(path: &Path) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for c in load_certs(path)? {
        roots
            .add(c)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::resolve;

    #[test]
    fn pem_loader_names_the_file_and_refuses_empty_files() {
        let dir = std::env::temp_dir().join(format!("promlet-tls-pem-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "no pem here\n").unwrap();
        let e = load_certs(&empty).unwrap_err();
        assert!(
            e.contains("empty.pem") && e.contains("no certificate"),
            "{e}"
        );
        let e = load_key(&empty).unwrap_err();
        assert!(e.contains("empty.pem"), "{e}");
        let e = load_certs(&dir.join("missing.pem")).unwrap_err();
        assert!(e.contains("missing.pem"), "{e}");
        assert_eq!(
            resolve(Path::new("/etc/promlet"), Path::new("ca.pem")),
            Path::new("/etc/promlet/ca.pem")
        );
        assert_eq!(
            resolve(Path::new("/etc/promlet"), Path::new("/x/ca.pem")),
            Path::new("/x/ca.pem")
        );
    }
}
