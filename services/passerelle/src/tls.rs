//! TLS with rustls (ring provider): TLS 1.2 and 1.3 only; certificate and key from files,
//! or a self-signed pair generated on first start in `<data dir>/tls/` with a warning.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use rustls::ServerConfig;

use crate::config::Config;

/// Creates the self-signed pair when nothing was configured and no pair exists yet.
pub fn ensure_certificate(config: &Config) -> anyhow::Result<()> {
    if config.tls_configured || (config.tls_cert.exists() && config.tls_key.exists()) {
        return Ok(());
    }
    let dir = config
        .tls_cert
        .parent()
        .context("certificate path has no folder")?;
    std::fs::create_dir_all(dir)?;
    let names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    let cert = rcgen::generate_simple_self_signed(names).context("generating a certificate")?;
    std::fs::write(&config.tls_cert, cert.cert.pem())?;
    write_private(&config.tls_key, cert.signing_key.serialize_pem().as_bytes())?;
    tracing::warn!(
        cert = %config.tls_cert.display(),
        "no TLS certificate configured: generated a self-signed one; set PASSERELLE_TLS_CERT and PASSERELLE_TLS_KEY in production"
    );
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes)?;
    Ok(())
}

/// Builds the rustls configuration from the files.
pub fn server_config(config: &Config) -> anyhow::Result<Arc<ServerConfig>> {
    let cert_pem = std::fs::read(&config.tls_cert).with_context(|| {
        format!(
            "cannot read the TLS certificate {}",
            config.tls_cert.display()
        )
    })?;
    let key_pem = std::fs::read(&config.tls_key)
        .with_context(|| format!("cannot read the TLS key {}", config.tls_key.display()))?;
    let certs = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .context("the TLS certificate file is not PEM")?;
    if certs.is_empty() {
        bail!("no certificate in {}", config.tls_cert.display());
    }
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .context("the TLS key file is not PEM")?
        .with_context(|| format!("no private key in {}", config.tls_key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut sc = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("TLS versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("the TLS certificate and key do not match")?;
    sc.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(sc))
}
