//! `gcli2api healthcheck`: asks a running gateway's `/healthz` and succeeds only on its `ok`.
//! The container image has no shell and no curl, so its HEALTHCHECK runs the binary itself.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use crate::Settings;

/// Longer than a healthy answer ever takes on loopback, shorter than a container runtime's
/// default probe timeout (30 s), so a hung gateway reports as such rather than as a timeout.
pub const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error("no answer from {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url} answered {body:?}, not \"ok\"")]
    Body { url: String, body: String },
}

/// The `/healthz` URL of a gateway listening per `settings`: a wildcard `HOST` (the default,
/// and the image's) is reached on loopback.
pub fn url(settings: &Settings) -> String {
    let host = match settings.host.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST).to_string(),
        Ok(IpAddr::V6(ip)) if ip.is_unspecified() => format!("[{}]", Ipv6Addr::LOCALHOST),
        Ok(IpAddr::V6(ip)) => format!("[{ip}]"),
        Ok(IpAddr::V4(ip)) => ip.to_string(),
        Err(_) => settings.host.clone(),
    };
    format!("http://{host}:{}/healthz", settings.port)
}

/// One GET of `url`; any answer but `200 ok` within [`TIMEOUT`] is an error naming it.
pub async fn check(url: &str) -> Result<(), HealthError> {
    let client = crate::outbound::client_builder()
        .map_err(|e| HealthError::Client(e.to_string()))?
        .no_proxy()
        .timeout(TIMEOUT)
        .build()
        .map_err(|e| HealthError::Client(e.to_string()))?;
    let unreachable = |e: reqwest::Error| HealthError::Unreachable {
        url: url.to_string(),
        reason: root_cause(&e),
    };
    let resp = client.get(url).send().await.map_err(unreachable)?;
    let status = resp.status().as_u16();
    if status != 200 {
        return Err(HealthError::Status {
            url: url.to_string(),
            status,
        });
    }
    let body = resp.text().await.map_err(unreachable)?;
    if body.trim() != "ok" {
        return Err(HealthError::Body {
            url: url.to_string(),
            body: body.chars().take(80).collect(),
        });
    }
    Ok(())
}

/// reqwest's own message ("error sending request") says nothing; the innermost cause does
/// ("Connection refused", "operation timed out").
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(host: &str, port: u16) -> String {
        let mut s = Settings::resolve(&crate::Sources::default());
        s.host = host.into();
        s.port = port;
        url(&s)
    }

    #[test]
    fn wildcard_hosts_are_reached_on_loopback() {
        assert_eq!(at("0.0.0.0", 7861), "http://127.0.0.1:7861/healthz");
        assert_eq!(at("::", 80), "http://[::1]:80/healthz");
    }

    #[test]
    fn a_specific_host_is_used_as_it_is() {
        assert_eq!(at("10.1.2.3", 9), "http://10.1.2.3:9/healthz");
        assert_eq!(at("fd00::7", 9), "http://[fd00::7]:9/healthz");
        assert_eq!(at("gateway.lan", 9), "http://gateway.lan:9/healthz");
    }
}
