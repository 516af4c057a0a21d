//! [`AppState`]: what every handler shares (store, engine handle, config, clock, rate limiters,
//! metrics, the sign-in HTTP client). Cheap to clone.

use std::sync::Arc;
use std::time::Duration;

use engine::EngineHandle;
use schema::Store;
use tenants::SharedClock;

use crate::config::GatewayConfig;
use crate::metrics::Metrics;
use crate::rate_limit::RateLimits;

/// Why the gateway state could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The outbound HTTP client (used for sign-in) could not be built.
    #[error("could not build the http client: {0}")]
    HttpClient(String),
}

/// Shared state of every request handler.
#[derive(Clone)]
pub struct AppState {
    /// The store (embedded or ScyllaDB).
    pub store: Arc<dyn Store>,
    /// The engine, for state changes that involve actors. `None` runs the gateway without an
    /// engine: routes that need one answer 503 and `/readyz` reports it absent.
    pub engine: Option<EngineHandle>,
    /// Gateway settings.
    pub config: Arc<GatewayConfig>,
    /// The clock every timestamp comes from.
    pub clock: SharedClock,
    pub(crate) rate_limits: Arc<RateLimits>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) http: reqwest::Client,
    /// Account connects waiting for their platform callback, and the platform OAuth client.
    pub(crate) connects: Arc<crate::routes::account_connect::PendingConnects>,
    /// CSV import jobs running in this process.
    pub(crate) imports: Arc<crate::import_jobs::ImportJobs>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("engine", &self.engine.is_some())
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Builds the shared state. Pass the engine's handle, or `None` to serve without one.
    ///
    /// # Errors
    /// [`StateError::HttpClient`] when the outbound HTTP client cannot be built.
    pub fn new(
        config: GatewayConfig,
        store: Arc<dyn Store>,
        engine: Option<EngineHandle>,
        clock: SharedClock,
    ) -> Result<Self, StateError> {
        // reqwest is built without a default TLS crypto provider; installing one twice is
        // harmless (the second call reports the first is in place).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| StateError::HttpClient(e.to_string()))?;
        Ok(Self {
            connects: Arc::new(
                crate::routes::account_connect::PendingConnects::from_config(&config),
            ),
            imports: Arc::new(crate::import_jobs::ImportJobs::new(&config.imports)),
            rate_limits: Arc::new(RateLimits::new(config.rate_limit)),
            metrics: Arc::new(Metrics::default()),
            config: Arc::new(config),
            store,
            engine,
            clock,
            http,
        })
    }

    /// The engine, or 503 when the gateway runs without one.
    ///
    /// # Errors
    /// [`crate::ApiError::Unavailable`] when no engine is attached.
    pub fn engine(&self) -> Result<&EngineHandle, crate::ApiError> {
        self.engine
            .as_ref()
            .ok_or_else(|| crate::ApiError::Unavailable("no engine attached".to_owned()))
    }
}
