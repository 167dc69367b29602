//! `KEEPALIVE_URL`: a periodic GET, as the reference does, so that free hosting that sleeps
//! idle apps keeps this one awake (point it at the gateway's own public `/healthz`). Both the
//! URL and the interval are read again before every round, so changes apply live.
use std::time::Duration;

use crate::settings::SettingsService;

/// One request never takes longer than this, whatever the interval.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub fn spawn(settings: SettingsService) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = match reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build() {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "keep-alive requests are off: no HTTP client");
                return;
            }
        };
        loop {
            let s = settings.get();
            if let Some(url) = s.keepalive_url.as_deref().filter(|u| !u.is_empty()) {
                match client.get(url).send().await {
                    Ok(r) => tracing::debug!(status = r.status().as_u16(), "keep-alive request"),
                    Err(e) => tracing::warn!(error = %e.without_url(), "keep-alive request failed"),
                }
            }
            tokio::time::sleep(s.keepalive_interval).await;
        }
    })
}
