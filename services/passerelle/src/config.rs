//! Configuration: defaults < `passerelle.toml` in the data dir < environment. Built once in
//! `main` and passed down; no global. Secrets (a database URL's password) never appear in
//! `Debug` output.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use ipnet::IpNet;
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
    /// Serve plain HTTP behind a TLS-terminating reverse proxy (`--behind-proxy`,
    /// `PASSERELLE_BEHIND_PROXY=true`).
    pub behind_proxy: bool,
    /// Proxies whose `X-Forwarded-For` is believed (`PASSERELLE_TRUSTED_PROXIES`,
    /// comma-separated addresses or CIDR ranges).
    pub trusted_proxies: Vec<IpNet>,
    /// CA that signs machine clients' certificates (`PASSERELLE_CLIENT_CA`): enables mTLS.
    pub client_ca: Option<PathBuf>,
    /// Addresses that may read `/metrics` (`PASSERELLE_METRICS_ALLOW`); `None`: the
    /// default (loopback, or nobody behind a proxy).
    pub metrics_allow: Option<Vec<IpNet>>,
    /// Bearer token that may read `/metrics` (`PASSERELLE_METRICS_TOKEN`). Secret.
    pub metrics_token: Option<String>,
    /// How often background jobs try to run (`PASSERELLE_JOB_INTERVAL_SECS`, default 60).
    pub job_interval: std::time::Duration,
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
            .field("behind_proxy", &self.behind_proxy)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("client_ca", &self.client_ca)
            .field("metrics_allow", &self.metrics_allow)
            .field(
                "metrics_token",
                &self.metrics_token.as_ref().map(|_| "<redacted>"),
            )
            .field("job_interval", &self.job_interval)
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
    behind_proxy: Option<bool>,
    trusted_proxies: Option<String>,
    client_ca: Option<PathBuf>,
    metrics_allow: Option<String>,
    metrics_token: Option<String>,
    job_interval_secs: Option<u64>,
}

/// Parses `10.0.0.0/8, 192.0.2.7, ::1`: CIDR ranges or single addresses.
pub fn parse_nets(text: &str, what: &str) -> anyhow::Result<Vec<IpNet>> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                .with_context(|| format!("{what}: {s:?} is not an address or a CIDR range"))
        })
        .collect()
}

fn parse_bool(text: &str, what: &str) -> anyhow::Result<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => bail!("{what} must be true or false"),
    }
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
        let behind_proxy = match env("PASSERELLE_BEHIND_PROXY") {
            Some(v) => parse_bool(&v, "PASSERELLE_BEHIND_PROXY")?,
            None => file.behind_proxy.unwrap_or(false),
        };
        let trusted_proxies = match env("PASSERELLE_TRUSTED_PROXIES").or(file.trusted_proxies) {
            Some(v) => parse_nets(&v, "PASSERELLE_TRUSTED_PROXIES")?,
            None => Vec::new(),
        };
        let metrics_allow = env("PASSERELLE_METRICS_ALLOW")
            .or(file.metrics_allow)
            .map(|v| parse_nets(&v, "PASSERELLE_METRICS_ALLOW"))
            .transpose()?;
        let metrics_token = env("PASSERELLE_METRICS_TOKEN").or(file.metrics_token);
        if metrics_token.as_ref().is_some_and(|t| t.len() < 16) {
            bail!("PASSERELLE_METRICS_TOKEN must be at least 16 characters");
        }
        let job_interval_secs = match env("PASSERELLE_JOB_INTERVAL_SECS") {
            Some(v) => v
                .parse()
                .context("PASSERELLE_JOB_INTERVAL_SECS must be a number of seconds")?,
            None => file.job_interval_secs.unwrap_or(60),
        };
        if job_interval_secs == 0 {
            bail!("PASSERELLE_JOB_INTERVAL_SECS must be at least 1");
        }
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
            behind_proxy,
            trusted_proxies,
            client_ca: env("PASSERELLE_CLIENT_CA")
                .map(PathBuf::from)
                .or(file.client_ca),
            metrics_allow,
            metrics_token,
            job_interval: std::time::Duration::from_secs(job_interval_secs),
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

    #[test]
    fn address_lists() {
        let nets = parse_nets("10.0.0.0/8, 192.0.2.7,::1", "X").expect("valid");
        assert_eq!(nets.len(), 3);
        assert!(nets[1].contains(&"192.0.2.7".parse::<std::net::IpAddr>().expect("ip")));
        assert!(parse_nets("10.0.0.0/8, proxy.local", "X").is_err());
        assert!(parse_nets("", "X").expect("empty").is_empty());
        assert!(parse_bool("TRUE", "X").expect("bool"));
        assert!(parse_bool("maybe", "X").is_err());
    }
}
