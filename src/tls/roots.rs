//! The system's trust roots, found the way OpenSSL and Go find them: `SSL_CERT_FILE` (a PEM
//! bundle) and `SSL_CERT_DIR` (colon-separated folders of PEM files, as `c_rehash` leaves
//! them) when set; otherwise the first distribution bundle that exists. promlet ships no
//! roots of its own: the system's are updated with the system.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;

/// Where distributions keep their CA bundle, in the order tried: Debian/Ubuntu (and OpenWrt's
/// `ca-bundle`), Fedora/RHEL, RHEL's extracted bundle, Alpine/OpenWrt/BSDs, openSUSE.
pub const SYSTEM_CA_FILES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
    "/etc/ssl/ca-bundle.pem",
];

/// Files read from one `SSL_CERT_DIR` folder at most (a hashed folder holds a few hundred).
const MAX_DIR_FILES: usize = 4096;

/// The system roots, loaded once per process (a bundle is a few hundred certificates, and
/// every https client shares them). Sources that exist but do not parse are warned about
/// once; no root at all is an error saying what was tried.
pub fn system() -> Result<Arc<RootCertStore>, String> {
    static ROOTS: OnceLock<Result<Arc<RootCertStore>, String>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let (roots, problems) = find(
                std::env::var_os("SSL_CERT_FILE"),
                std::env::var_os("SSL_CERT_DIR"),
                SYSTEM_CA_FILES,
            )?;
            for p in problems {
                crate::warn!("trust roots: {p}");
            }
            Ok(Arc::new(roots))
        })
        .clone()
}

/// The roots from the given sources: the certificates found and the problems met on the way
/// (a source that exists but is broken). An error only when no certificate was found.
pub fn find(
    cert_file: Option<OsString>,
    cert_dir: Option<OsString>,
    bundles: &[&str],
) -> Result<(RootCertStore, Vec<String>), String> {
    let cert_file = cert_file.filter(|v| !v.is_empty()).map(PathBuf::from);
    let cert_dir = cert_dir.filter(|v| !v.is_empty());
    let mut certs: Vec<CertificateDer<'static>> = Vec::new();
    let mut problems = Vec::new();
    let mut tried = Vec::new();
    match &cert_file {
        Some(f) => {
            tried.push(format!("SSL_CERT_FILE={}", f.display()));
            add_file(f, &mut certs, &mut problems);
        }
        None if cert_dir.is_none() => match bundles.iter().map(Path::new).find(|p| p.is_file()) {
            Some(b) => add_file(b, &mut certs, &mut problems),
            None => tried.push(format!("none of {} exists", bundles.join(", "))),
        },
        None => {}
    }
    if let Some(dirs) = &cert_dir {
        for d in std::env::split_paths(dirs) {
            tried.push(format!("SSL_CERT_DIR folder {}", d.display()));
            add_dir(&d, &mut certs, &mut problems);
        }
    }
    let mut store = RootCertStore::empty();
    let (_, unusable) = store.add_parsable_certificates(certs);
    if unusable > 0 {
        problems.push(format!("{unusable} certificates are not usable as roots"));
    }
    if store.is_empty() {
        let mut why = tried;
        why.extend(problems);
        return Err(format!(
            "no trusted CA certificates ({}); install ca-certificates (ca-bundle on OpenWrt) \
             or set SSL_CERT_FILE",
            why.join("; ")
        ));
    }
    Ok((store, problems))
}

/// The certificates of a bundle; a broken one keeps those read before the damage.
fn add_file(path: &Path, certs: &mut Vec<CertificateDer<'static>>, problems: &mut Vec<String>) {
    let pem = match super::read_pem(path) {
        Ok(p) => p,
        Err(e) => return problems.push(e),
    };
    for c in CertificateDer::pem_slice_iter(&pem) {
        match c {
            Ok(c) => certs.push(c),
            Err(e) => return problems.push(format!("{}: {e}", path.display())),
        }
    }
}

/// Every PEM file of a folder (hash links and `*.pem` alike; duplicates do no harm).
fn add_dir(dir: &Path, certs: &mut Vec<CertificateDer<'static>>, problems: &mut Vec<String>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => return problems.push(format!("{}: {e}", dir.display())),
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .take(MAX_DIR_FILES)
        .collect();
    paths.sort();
    for p in paths {
        add_file(&p, certs, problems);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh self-signed CA certificate, made by openssl (as tests/common's TestCa does).
    fn ca_pem(dir: &Path, name: &str) -> PathBuf {
        let out = dir.join(name);
        let st = std::process::Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ])
            .args([
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=promlet roots test",
                "-keyout",
            ])
            .arg(dir.join(format!("{name}.key")))
            .arg("-out")
            .arg(&out)
            .output()
            .expect("openssl is installed");
        assert!(
            st.status.success(),
            "{}",
            String::from_utf8_lossy(&st.stderr)
        );
        out
    }

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("promlet-roots-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn none_found_is_one_message_naming_every_place() {
        let e = find(None, None, &["/nonexistent/a.pem", "/nonexistent/b.pem"]).unwrap_err();
        assert!(
            e.contains("/nonexistent/a.pem, /nonexistent/b.pem") && e.contains("ca-certificates"),
            "{e}"
        );
        let e = find(Some("/nonexistent/c.pem".into()), None, SYSTEM_CA_FILES).unwrap_err();
        assert!(e.contains("SSL_CERT_FILE=/nonexistent/c.pem"), "{e}");
    }

    #[test]
    fn env_file_dir_and_bundles_in_order() {
        let d = tmp("order");
        let a = ca_pem(&d, "a.pem");
        let sub = d.join("hashed");
        std::fs::create_dir_all(&sub).unwrap();
        ca_pem(&sub, "1.pem");
        ca_pem(&sub, "2.pem");
        let _ = std::fs::remove_file(sub.join("1.pem.key"));
        let _ = std::fs::remove_file(sub.join("2.pem.key"));
        // SSL_CERT_FILE alone.
        let (s, p) = find(Some(a.clone().into()), None, &["/nonexistent"]).unwrap();
        assert_eq!((s.len(), p.len()), (1, 0));
        // SSL_CERT_DIR alone: every file of the folder, the bundles are not read.
        let (s, _) = find(None, Some(sub.clone().into()), &[a.to_str().unwrap()]).unwrap();
        assert_eq!(s.len(), 2);
        // Both.
        let (s, _) = find(Some(a.clone().into()), Some(sub.into()), &[]).unwrap();
        assert_eq!(s.len(), 3);
        // Neither: the first bundle that exists.
        let (s, _) = find(
            None,
            Some("".into()),
            &["/nonexistent", a.to_str().unwrap()],
        )
        .unwrap();
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn a_damaged_bundle_keeps_what_parsed_and_says_so() {
        let d = tmp("damaged");
        let a = ca_pem(&d, "a.pem");
        let mut text = std::fs::read_to_string(&a).unwrap();
        text.push_str("-----BEGIN CERTIFICATE-----\nnot base64 !!\n-----END CERTIFICATE-----\n");
        let bad = d.join("bad.pem");
        std::fs::write(&bad, text).unwrap();
        let (s, p) = find(Some(bad.into()), None, &[]).unwrap();
        assert_eq!(s.len(), 1);
        assert!(p.len() == 1 && p[0].contains("bad.pem"), "{p:?}");
    }
}
