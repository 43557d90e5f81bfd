//! `--web.config.file`: TLS, client certificates and basic auth in the exporter-toolkit web
//! configuration format (<https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md>).

use std::path::Path;

use crate::server::Options;

/// Reads the web configuration and installs its TLS acceptor and authenticator in `opts`.
pub fn load(path: &Path, _opts: &mut Options) -> Result<(), String> {
    Err(format!(
        "{}: web configuration files are not supported by this build yet",
        path.display()
    ))
}
