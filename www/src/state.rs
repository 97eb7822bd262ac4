//! What every handler shares.

use std::ops::Deref;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::access::AccessRules;
use crate::auth::{load_secret, Keys};
use crate::client_limit::SseLimit;
use crate::config::{parse_cors_origin, Config, Storage};
use crate::error::{AppError, AppResult};
use crate::hub::StreamHub;
use crate::pages::Pages;
use crate::sse::SseClients;
use crate::store::Store;
use crate::topics::Topics;

pub struct Shared {
    pub config: Config,
    pub store: Arc<Store>,
    pub hub: Arc<StreamHub>,
    pub topics: Topics,
    pub keys: Keys,
    pub rules: AccessRules,
    pub clients: SseClients,
    /// Open SSE responses per client address, against `config.max_sse_per_client`.
    pub client_limit: SseLimit,
    pub pages: Pages,
    /// Cancelled on SIGTERM/Ctrl-C: every SSE stream says goodbye and ends.
    pub shutdown: CancellationToken,
    #[cfg(feature = "test-routes")]
    pub test: crate::test_routes::TestState,
}

/// Cheap to clone: one pointer.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// An SSE response of `frames`, counted in `/ready` and ended by the shutdown drain.
    pub fn sse<S>(&self, frames: S, options: crate::sse::SseOptions) -> axum::response::Response
    where
        S: futures_util::Stream<Item = bytes::Bytes> + Send + 'static,
    {
        crate::sse::response(frames, options, &self.clients, self.shutdown.clone())
    }

    pub fn new(config: Config) -> AppResult<Self> {
        // Here, before the server binds and announces itself: the CORS layer built later
        // panics on `*` with credentials, and an origin it cannot use would be dropped silently.
        for origin in &config.cors_origins {
            parse_cors_origin(origin)
                .map_err(|e| AppError::BadRequest(format!("--cors-origin: {e}")))?;
        }
        let dir = match &config.storage {
            Storage::Dir(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    AppError::internal(format!("cannot create data dir {}: {e}", dir.display()))
                })?;
                Some(dir.as_path())
            }
            Storage::Memory => None,
        };
        let secret =
            load_secret(dir).map_err(|e| AppError::internal(format!("signing secret: {e}")))?;
        let store = Arc::new(Store::open(dir)?);
        let shutdown = CancellationToken::new();
        Ok(Self(Arc::new(Shared {
            hub: Arc::new(StreamHub::new(store.clone(), shutdown.clone())),
            topics: Topics::default(),
            keys: Keys::new(&secret).with_max_ttl(config.max_token_ttl),
            rules: match &config.access_rules {
                Some(json) => AccessRules::with_file_rules(json).map_err(AppError::BadRequest)?,
                None => AccessRules::default(),
            },
            clients: SseClients::default(),
            client_limit: SseLimit::new(config.max_sse_per_client),
            pages: Pages::new().map_err(AppError::internal)?,
            store,
            shutdown,
            config,
            #[cfg(feature = "test-routes")]
            test: Default::default(),
        })))
    }

    /// Runs blocking store work off the async threads.
    pub async fn blocking<T, F>(&self, f: F) -> AppResult<T>
    where
        F: FnOnce(&Store) -> AppResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| AppError::internal(format!("store task failed: {e}")))?
    }
}
