//! gcli2api: a self-hosted gateway from OpenAI / Gemini clients to Google's Code Assist API.
//! `run` and `build` are shared by the binary and the integration tests.
pub mod api;
pub mod convert;
pub mod error;
pub mod google;
pub mod logs;
pub mod models;
pub mod panel;
pub mod pool;
pub mod proxy;
pub mod settings;
pub mod simulator;
pub mod state;
pub mod store;
pub mod usage;
pub mod wire;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use poem::listener::{Acceptor, TcpAcceptor};
use poem::{EndpointExt, Route, get, handler};

pub use crate::settings::{Settings, Sources};
pub use crate::state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("cannot serve: {0}")]
    Io(#[from] std::io::Error),
}

/// A configured gateway that has not started serving yet.
pub struct App {
    state: AppState,
}

/// Resolve settings and open the store; nothing is bound yet, so the caller can pick the address.
pub async fn build(sources: Sources) -> Result<App, StartupError> {
    let settings = Settings::resolve(&sources);
    let store = store::Store::open(&settings.data_dir).await?;
    Ok(App {
        state: AppState::new(settings, store),
    })
}

impl App {
    pub fn settings(&self) -> Arc<Settings> {
        self.state.settings.get()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serve on an already-bound listener until `shutdown` resolves.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartupError> {
        let acceptor = TcpAcceptor::from_tokio(listener)?;
        let addr = acceptor.local_addr();
        tracing::info!(addr = ?addr.first(), "gcli2api listening");
        let app = routes(self.state.clone());
        poem::Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(app, shutdown, Some(Duration::from_secs(10)))
            .await?;
        Ok(())
    }
}

/// Build and serve in one call: what tests use with a port-0 listener.
pub async fn run(
    sources: Sources,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartupError> {
    build(sources).await?.serve(listener, shutdown).await
}

#[handler]
fn healthz() -> &'static str {
    "ok"
}

pub fn routes(state: AppState) -> impl poem::Endpoint {
    Route::new()
        .at("/healthz", get(healthz))
        .nest("/v1", proxy::routes(proxy::Surface::OpenAi))
        .data(state)
}
