//! Configuration: defaults < `passerelle.toml` in the data dir < environment. Built once in
//! `main` and passed down; no global. Secrets (a database URL's password) never appear in
//! `Debug` output.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

/// Where the data lives and how to serve.
#[derive(Clone)]
pub struct Config {
    /// The data dir.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`.
    pub database_url: String,
    /// Listen address.
    pub listen: SocketAddr,
    /// TLS certificate (PEM); generated self-signed when absent.
    pub tls_cert: PathBuf,
    /// TLS key (PEM).
    pub tls_key: PathBuf,
    /// Whether cert and key were configured (not generated defaults).
    pub tls_configured: bool,
    /// Keys folder.
    pub keys_dir: PathBuf,
    /// Checkpoint folder.
    pub checkpoint_dir: PathBuf,
    /// Attachment size limit.
    pub max_attachment_bytes: u64,
}

/// Hides the password of a URL.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field("database_url", &redact_url(&self.database_url))
            .field("listen", &self.listen)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field("keys_dir", &self.keys_dir)
            .field("checkpoint_dir", &self.checkpoint_dir)
            .field("max_attachment_bytes", &self.max_attachment_bytes)
            .finish()
    }
}

/// The file `passerelle.toml`: every key optional, same names as the environment without
/// the `PASSERELLE_` prefix, in lowercase.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    database_url: Option<String>,
    listen: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    keys_dir: Option<PathBuf>,
    checkpoint_dir: Option<PathBuf>,
    max_attachment_bytes: Option<u64>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Config {
    /// Loads for `data_dir`.
    pub fn load(data_dir: &Path) -> anyhow::Result<Config> {
        let file_path = data_dir.join("passerelle.toml");
        let file: FileConfig = match std::fs::read_to_string(&file_path) {
            Ok(text) => toml::from_str(&text)
                .with_context(|| format!("{} is not valid", file_path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => FileConfig::default(),
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read {}", file_path.display()));
            }
        };
        let database_url = env("PASSERELLE_DATABASE_URL")
            .or(file.database_url)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("passerelle.db").display()));
        if !(database_url.starts_with("sqlite://")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            bail!(
                "PASSERELLE_DATABASE_URL must start with sqlite:// or postgres:// (got a URL with another scheme: {})",
                redact_url(&database_url).split("://").next().unwrap_or("?")
            );
        }
        let listen = env("PASSERELLE_LISTEN")
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:8443".into());
        let listen: SocketAddr = listen
            .parse()
            .with_context(|| format!("PASSERELLE_LISTEN is not an address:port ({listen})"))?;
        let cert = env("PASSERELLE_TLS_CERT")
            .map(PathBuf::from)
            .or(file.tls_cert);
        let key = env("PASSERELLE_TLS_KEY")
            .map(PathBuf::from)
            .or(file.tls_key);
        let tls_configured = cert.is_some() || key.is_some();
        if cert.is_some() != key.is_some() {
            bail!("set both PASSERELLE_TLS_CERT and PASSERELLE_TLS_KEY, or neither");
        }
        let max_attachment_bytes = match env("PASSERELLE_MAX_ATTACHMENT_BYTES") {
            Some(v) => v
                .parse()
                .context("PASSERELLE_MAX_ATTACHMENT_BYTES must be a number of bytes")?,
            None => file.max_attachment_bytes.unwrap_or(25 * 1024 * 1024),
        };
        Ok(Config {
            data_dir: data_dir.to_owned(),
            database_url,
            listen,
            tls_cert: cert.unwrap_or_else(|| data_dir.join("tls/cert.pem")),
            tls_key: key.unwrap_or_else(|| data_dir.join("tls/key.pem")),
            tls_configured,
            keys_dir: env("PASSERELLE_KEYS_DIR")
                .map(PathBuf::from)
                .or(file.keys_dir)
                .unwrap_or_else(|| data_dir.join("keys")),
            checkpoint_dir: env("PASSERELLE_CHECKPOINT_DIR")
                .map(PathBuf::from)
                .or(file.checkpoint_dir)
                .unwrap_or_else(|| data_dir.join("checkpoints")),
            max_attachment_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_is_redacted() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/p"),
            "postgres://app:***@db:5432/p"
        );
        assert_eq!(redact_url("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
    }
}
