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
    /// Retention periods (`PASSERELLE_RETENTION_ARCHIVE_AFTER`, default 2 years;
    /// `PASSERELLE_RETENTION_SHRED_AFTER`, default 3 years after archiving).
    pub retention: passerelle_core::RetentionPolicy,
    /// How often `serve` runs the retention job (`PASSERELLE_RETENTION_INTERVAL`, 1 h).
    pub retention_interval: std::time::Duration,
    /// Where notices are e-mailed from (`PASSERELLE_SMTP_URL`); none: no e-mail.
    pub smtp_url: Option<String>,
    /// The sender address of notice e-mails (`PASSERELLE_SMTP_FROM`).
    pub smtp_from: String,
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
            .field("retention", &self.retention)
            .field("retention_interval", &self.retention_interval)
            .field("smtp_url", &self.smtp_url.as_deref().map(redact_url))
            .field("smtp_from", &self.smtp_from)
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
    retention_archive_after: Option<String>,
    retention_shred_after: Option<String>,
    retention_interval: Option<String>,
    smtp_url: Option<String>,
    smtp_from: Option<String>,
    behind_proxy: Option<bool>,
    trusted_proxies: Option<String>,
    client_ca: Option<PathBuf>,
    metrics_allow: Option<String>,
    metrics_token: Option<String>,
    job_interval_secs: Option<u64>,
}

/// Parses a period: a positive number followed by `s`, `m`, `h`, `d` or `y` (365 days),
/// e.g. `730d`, `2y`, `1h`.
pub fn parse_period(s: &str) -> Result<time::Duration, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num
        .parse()
        .ok()
        .filter(|n| *n > 0 && *n <= 100_000)
        .ok_or_else(|| "use a positive number followed by s, m, h, d or y (e.g. 2y)".to_string())?;
    match unit {
        "s" => Ok(time::Duration::seconds(n)),
        "m" => Ok(time::Duration::minutes(n)),
        "h" => Ok(time::Duration::hours(n)),
        "d" => Ok(time::Duration::days(n)),
        "y" => Ok(time::Duration::days(365 * n)),
        _ => Err("use a positive number followed by s, m, h, d or y (e.g. 2y)".into()),
    }
}

fn period(
    var: &str,
    file: Option<String>,
    default: time::Duration,
) -> anyhow::Result<time::Duration> {
    match env(var).or(file) {
        None => Ok(default),
        Some(v) => parse_period(&v).map_err(|e| anyhow::anyhow!("{var}: {e}")),
    }
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
        let defaults = passerelle_core::RetentionPolicy::default();
        let retention = passerelle_core::RetentionPolicy {
            archive_after: period(
                "PASSERELLE_RETENTION_ARCHIVE_AFTER",
                file.retention_archive_after,
                defaults.archive_after,
            )?,
            shred_after: period(
                "PASSERELLE_RETENTION_SHRED_AFTER",
                file.retention_shred_after,
                defaults.shred_after,
            )?,
        };
        let retention_interval = period(
            "PASSERELLE_RETENTION_INTERVAL",
            file.retention_interval,
            time::Duration::hours(1),
        )?;
        let retention_interval = std::time::Duration::try_from(retention_interval)
            .context("PASSERELLE_RETENTION_INTERVAL out of range")?;
        let smtp_url = env("PASSERELLE_SMTP_URL").or(file.smtp_url);
        if let Some(u) = &smtp_url
            && !(u.starts_with("smtp://") || u.starts_with("smtps://"))
        {
            bail!("PASSERELLE_SMTP_URL must start with smtp:// or smtps://");
        }
        let smtp_from = env("PASSERELLE_SMTP_FROM")
            .or(file.smtp_from)
            .unwrap_or_else(|| "passerelle@localhost".into());
        if !passerelle_core::valid_email(&smtp_from) && smtp_from != "passerelle@localhost" {
            bail!("PASSERELLE_SMTP_FROM must be a plain e-mail address");
        }
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
            retention,
            retention_interval,
            smtp_url,
            smtp_from,
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
        assert_eq!(
            redact_url("smtps://relay:pw@mail.example.org:465"),
            "smtps://relay:***@mail.example.org:465"
        );
    }

    #[test]
    fn periods() {
        assert_eq!(parse_period("2y"), Ok(time::Duration::days(730)));
        assert_eq!(parse_period("730d"), Ok(time::Duration::days(730)));
        assert_eq!(parse_period("90s"), Ok(time::Duration::seconds(90)));
        for bad in ["0d", "-1d", "d", "3w", "", "1.5y"] {
            assert!(parse_period(bad).is_err(), "{bad}");
        }
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
