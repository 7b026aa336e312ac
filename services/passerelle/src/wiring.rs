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

/// Serves HTTPS until SIGTERM or Ctrl-C, then drains connections (10 s at most).
pub async fn serve(config: &Config, core: Core) -> anyhow::Result<()> {
    crate::tls::ensure_certificate(config)?;
    let tls = crate::tls::server_config(config)?;
    let app = passerelle_web::app(core.clone(), &WebConfig::default());
    let handle = axum_server::Handle::<SocketAddr>::new();
    let shutdown = handle.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down: finishing requests in progress");
        shutdown.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
    });
    let announce = handle.clone();
    let backend = core.backend();
    tokio::spawn(async move {
        if let Some(addr) = announce.listening().await {
            tracing::info!(%addr, backend, "listening");
            println!("Passerelle listens on https://{addr}");
        }
    });
    axum_server::bind_rustls(
        config.listen,
        axum_server::tls_rustls::RustlsConfig::from_config(tls),
    )
    .handle(handle)
    .serve(app.into_make_service_with_connect_info::<SocketAddr>())
    .await
    .with_context(|| format!("cannot serve on {}", config.listen))?;
    Ok(())
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
