//! What every handler shares: the services below the routes (store, stream hub, topics, keys
//! and rules, SSE bookkeeping, pages), built once from the configuration.

use std::ops::Deref;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::auth::{AccessRules, Keys};
use crate::config::{parse_cors_origin, Config, Storage};
use crate::error::{AppError, AppResult};
use crate::pages::Pages;
use crate::sse::{SseClients, SseLimit, SseOptions};
use crate::store::Store;
use crate::streams::StreamHub;
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
    pub fn sse<S>(&self, frames: S, options: SseOptions) -> axum::response::Response
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
        let keys = Keys::load(dir, config.max_token_ttl)?;
        let store = Arc::new(Store::open(dir)?);
        let shutdown = CancellationToken::new();
        Ok(Self(Arc::new(Shared {
            hub: Arc::new(StreamHub::new(
                store.clone(),
                shutdown.clone(),
                config.replay,
            )),
            topics: Topics::default(),
            keys,
            rules: AccessRules::load(config.access_rules.as_deref())?,
            clients: SseClients::default(),
            client_limit: SseLimit::new(config.max_sse_per_client),
            pages: Pages::new().map_err(AppError::internal)?,
            store,
            shutdown,
            config,
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
