//! TLS with rustls (ring provider): TLS 1.2 and 1.3 only; certificate and key from files,
//! or a self-signed pair generated on first start in `<data dir>/tls/` with a warning.
//!
//! - **Reload**: on SIGHUP the certificate, the key (and the client CA) are read again and
//!   swapped in for new handshakes; connections already open keep the session they
//!   negotiated and are not dropped. A pair that does not load is refused with an error in
//!   the log, and the previous one stays in service.
//! - **Client certificates** (mTLS, optional): with `PASSERELLE_CLIENT_CA`, the server asks
//!   every client for a certificate and verifies any it gets against that CA; clients
//!   without one still connect (browsers, token holders). What a verified certificate
//!   authenticates is decided by `passerelle_web::mtls`.

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
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("TLS versions")?;
    let builder = match &config.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => builder.with_client_cert_verifier(client_verifier(ca, provider)?),
    };
    let mut sc = builder
        .with_single_cert(certs, key)
        .context("the TLS certificate and key do not match")?;
    sc.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(sc))
}

/// Verifies client certificates against the CA in `ca` (PEM, one or more certificates);
/// a client without a certificate is let through to the other ways of authenticating.
fn client_verifier(
    ca: &Path,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> anyhow::Result<Arc<dyn rustls::server::danger::ClientCertVerifier>> {
    let pem =
        std::fs::read(ca).with_context(|| format!("cannot read the client CA {}", ca.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        let cert = cert.context("the client CA file is not PEM")?;
        roots
            .add(cert)
            .with_context(|| format!("{} is not a usable CA certificate", ca.display()))?;
    }
    if roots.is_empty() {
        bail!("no certificate in the client CA file {}", ca.display());
    }
    rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .allow_unauthenticated()
        .build()
        .context("cannot build the client certificate verifier")
}

/// Reloads the certificate, key and client CA on every SIGHUP, until the process ends.
pub async fn reload_on_sighup(
    config: crate::config::Config,
    rustls: axum_server::tls_rustls::RustlsConfig,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGHUP: TLS reload disabled");
            return;
        }
    };
    while hup.recv().await.is_some() {
        match server_config(&config) {
            Ok(sc) => {
                rustls.reload_from_config(sc);
                metrics::counter!("passerelle_tls_reloads_total", "outcome" => "ok").increment(1);
                tracing::info!(
                    cert = %config.tls_cert.display(),
                    "TLS certificate and key reloaded; open connections keep theirs"
                );
            }
            Err(e) => {
                metrics::counter!("passerelle_tls_reloads_total", "outcome" => "error")
                    .increment(1);
                tracing::error!(
                    error = %format!("{e:#}"),
                    "TLS reload failed: the previous certificate stays in service"
                );
            }
        }
    }
}
