//! Wiring: logging, the store chosen once from the URL scheme, the vault, the core, and the
//! HTTPS server with graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, bail};
use passerelle_core::{Core, SystemClock};
use passerelle_store::Store;
use passerelle_store_postgres::PgStore;
use passerelle_store_sqlite::SqliteStore;
use passerelle_vault::Vault;
use passerelle_web::WebConfig;

use crate::config::{Config, redact_url};

/// Logs to stderr: JSON when stderr is not a terminal (production, CI) or when
/// `PASSERELLE_LOG_FORMAT=json`, readable text otherwise. `RUST_LOG` filters.
pub fn init_logging() {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,rustls=error,sqlx=warn,hyper=warn"));
    let json = match std::env::var("PASSERELLE_LOG_FORMAT").as_deref() {
        Ok("json") => true,
        Ok("text") => false,
        _ => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
}

/// Opens the store named by the URL scheme; any other scheme is refused.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let url = &config.database_url;
    let store: Arc<dyn Store> = if url.starts_with("sqlite://") {
        let keystore = config.keys_dir.join("keystore.db");
        Arc::new(
            SqliteStore::connect(url, &keystore)
                .await
                .with_context(|| format!("cannot open the SQLite database {}", redact_url(url)))?,
        )
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Arc::new(
            PgStore::connect(url)
                .await
                .with_context(|| format!("cannot connect to PostgreSQL at {}", redact_url(url)))?,
        )
    } else {
        bail!("unsupported database URL scheme: use sqlite:// or postgres://");
    };
    store
        .migrate()
        .await
        .context("cannot apply the database migrations")?;
    Ok(store)
}

/// Loads keys, opens the store, builds the core.
pub async fn core(config: &Config) -> anyhow::Result<Core> {
    let vault = Vault::load(&config.keys_dir).with_context(|| {
        format!(
            "cannot load the keys from {} (run `passerelle init` first?)",
            config.keys_dir.display()
        )
    })?;
    let store = open_store(config).await?;
    std::fs::create_dir_all(&config.checkpoint_dir).with_context(|| {
        format!(
            "cannot create the checkpoint folder {}",
            config.checkpoint_dir.display()
        )
    })?;
    let core = Core::new(
        store,
        Arc::new(vault),
        Arc::new(SystemClock),
        config.checkpoint_dir.clone(),
    );
    core.set_max_attachment_bytes(config.max_attachment_bytes);
    Ok(core)
}

/// The HTTP edge's settings from the configuration.
pub fn web_config(config: &Config) -> WebConfig {
    use sha2::{Digest, Sha256};
    let loopback: Vec<ipnet::IpNet> = vec![
        "127.0.0.0/8".parse().expect("valid CIDR"),
        "::1/128".parse().expect("valid CIDR"),
    ];
    let allow = match &config.metrics_allow {
        Some(list) => list.clone(),
        // Behind a proxy every request comes from the proxy: loopback would mean everyone.
        None if config.behind_proxy => Vec::new(),
        None => loopback,
    };
    WebConfig {
        hsts: true,
        trusted_proxies: if config.behind_proxy {
            config.trusted_proxies.clone()
        } else {
            Vec::new()
        },
        metrics: passerelle_web::metrics::MetricsAccess {
            allow,
            token_sha256: config
                .metrics_token
                .as_ref()
                .map(|t| Sha256::digest(t.as_bytes()).into()),
        },
        ..WebConfig::default()
    }
}

/// Serves until SIGTERM or Ctrl-C, then drains connections (10 s at most): HTTPS, or plain
/// HTTP behind a reverse proxy when `behind_proxy` is set. Background jobs run on the one
/// instance that holds their leadership.
pub async fn serve(config: &Config, core: Core) -> anyhow::Result<()> {
    // The recorder must exist before the first request is counted.
    let _ = passerelle_web::metrics::handle();
    let web = web_config(config);
    let app = passerelle_web::app(core.clone(), &web);
    let handle = axum_server::Handle::<SocketAddr>::new();
    let shutdown = handle.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down: finishing requests in progress");
        shutdown.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
    });
    tokio::spawn(crate::jobs::retention_loop(
        core.clone(),
        config.retention,
        config.retention_interval,
    ));
    if let Some(url) = &config.smtp_url {
        tokio::spawn(crate::jobs::mail_loop(
            core.clone(),
            url.clone(),
            config.smtp_from.clone(),
        ));
    }
    let scheme = if config.behind_proxy { "http" } else { "https" };
    let announce = handle.clone();
    let backend = core.backend();
    tokio::spawn(async move {
        if let Some(addr) = announce.listening().await {
            tracing::info!(%addr, backend, scheme, "listening");
            println!("Passerelle listens on {scheme}://{addr}");
        }
    });
    crate::leader_jobs::spawn(core.clone(), config.clone());
    if config.behind_proxy {
        tracing::warn!(
            trusted_proxies = config.trusted_proxies.len(),
            "serving plain HTTP behind a reverse proxy (--behind-proxy): the proxy must terminate TLS; X-Forwarded-For is believed only from PASSERELLE_TRUSTED_PROXIES"
        );
        if !config.listen.ip().is_loopback() && config.trusted_proxies.is_empty() {
            tracing::warn!(
                "plain HTTP on a non-loopback address with no trusted proxy: anyone on the network can reach it without TLS"
            );
        }
        tokio::spawn(ignore_sighup());
        axum_server::bind(config.listen)
            .handle(handle)
            .serve(app.into_make_service_with_connect_info::<SocketAddr>())
            .await
            .with_context(|| format!("cannot serve on {}", config.listen))?;
        return Ok(());
    }
    crate::tls::ensure_certificate(config)?;
    let tls = crate::tls::server_config(config)?;
    let rustls = axum_server::tls_rustls::RustlsConfig::from_config(tls);
    tokio::spawn(crate::tls::reload_on_sighup(config.clone(), rustls.clone()));
    let app = if config.client_ca.is_some() {
        app.layer(axum::middleware::map_request(client_certificate))
    } else {
        app
    };
    axum_server::bind_rustls(config.listen, rustls)
        .handle(handle)
        .serve(app.into_make_service_with_connect_info::<SocketAddr>())
        .await
        .with_context(|| format!("cannot serve on {}", config.listen))?;
    Ok(())
}

/// Hands the client certificate TLS verified to the web layer.
async fn client_certificate(mut req: axum::extract::Request) -> axum::extract::Request {
    let cert = req
        .extensions()
        .get::<Arc<axum_server::tls::TlsInfo>>()
        .and_then(|info| info.peer_certificates.first().cloned());
    if let Some(der) = cert {
        req.extensions_mut()
            .insert(passerelle_web::mtls::ClientCertificate(Arc::new(der)));
    }
    req
}

/// Without TLS there is nothing to reload; SIGHUP must still not end the process.
async fn ignore_sighup() {
    use tokio::signal::unix::{SignalKind, signal};
    if let Ok(mut hup) = signal(SignalKind::hangup()) {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: nothing to reload behind a proxy (no TLS here)");
        }
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
