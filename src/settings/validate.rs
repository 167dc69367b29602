//! Validators: turn a raw value (env string, TOML value, API JSON) into its canonical JSON form.
use std::str::FromStr;

use serde_json::{Value, json};

use super::registry::Kind;

/// Validate a raw value (an env string, a TOML value converted to JSON, or a JSON value from the
/// API) and return its canonical JSON form. Errors describe the expectation and never echo the
/// value, so a secret typed into the wrong field is not written to a log.
pub fn parse(kind: Kind, raw: &Value) -> Result<Value, String> {
    match kind {
        Kind::Str => {
            let s = as_str(raw)?.trim();
            if s.is_empty() {
                return Err("must not be empty".into());
            }
            Ok(json!(s))
        }
        Kind::Secret => {
            let s = as_str(raw)?;
            if s.is_empty() {
                return Err("must not be empty".into());
            }
            Ok(json!(s))
        }
        Kind::Path => {
            let s = as_str(raw)?.trim();
            if s.is_empty() {
                return Err("must be a path".into());
            }
            Ok(json!(s))
        }
        Kind::Int { min, max } => {
            let n = match raw {
                Value::Number(n) => n.as_i64().ok_or("must be a whole number")?,
                Value::String(s) => s
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| "must be a whole number")?,
                _ => return Err("must be a whole number".into()),
            };
            if n < min || n > max {
                return Err(format!("must be between {min} and {max}"));
            }
            Ok(json!(n))
        }
        Kind::Float { min, max } => {
            let n = match raw {
                Value::Number(n) => n.as_f64().ok_or("must be a number")?,
                Value::String(s) => s.trim().parse::<f64>().map_err(|_| "must be a number")?,
                _ => return Err("must be a number".into()),
            };
            if !n.is_finite() || n < min || n > max {
                return Err(format!("must be between {min} and {max}"));
            }
            Ok(json!(n))
        }
        Kind::Bool => match raw {
            Value::Bool(b) => Ok(json!(b)),
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Ok(json!(true)),
                "false" | "0" | "no" | "off" => Ok(json!(false)),
                _ => Err("must be true/false (also 1/0, yes/no, on/off)".into()),
            },
            _ => Err("must be true or false".into()),
        },
        Kind::StatusCodes => {
            let items = list_items(raw)?;
            let mut codes = Vec::new();
            for item in items {
                let code = match &item {
                    Value::Number(n) => n.as_u64(),
                    Value::String(s) => s.trim().parse::<u64>().ok(),
                    _ => None,
                }
                .filter(|c| (400..=599).contains(c))
                .ok_or("must be a comma list of HTTP status codes between 400 and 599")?;
                if !codes.contains(&code) {
                    codes.push(code);
                }
            }
            Ok(json!(codes))
        }
        Kind::List => {
            let items = list_items(raw)?;
            let mut names: Vec<String> = Vec::new();
            for item in items {
                let s = item
                    .as_str()
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .ok_or("must be a comma list of non-empty names")?;
                if !names.iter().any(|n| n == s) {
                    names.push(s.to_string());
                }
            }
            if names.is_empty() {
                return Err("must list at least one name".into());
            }
            Ok(json!(names))
        }
        Kind::ModelAliases => {
            let items = list_items(raw)?;
            let texts = items
                .iter()
                .map(|i| {
                    i.as_str()
                        .ok_or("must be a comma list of pattern=target pairs")
                })
                .collect::<Result<Vec<_>, _>>()?;
            let aliases = crate::models::Aliases::parse(texts).map_err(|e| e.to_string())?;
            Ok(json!(
                aliases.iter().map(ToString::to_string).collect::<Vec<_>>()
            ))
        }
        Kind::AddressList => {
            let mut entries: Vec<String> = Vec::new();
            for item in list_items(raw)? {
                let s = item
                    .as_str()
                    .ok_or("must be a comma list of host names, IP addresses or CIDR ranges")?;
                let entry = match crate::remote::parse_entry(s)? {
                    crate::remote::Entry::Host(h) => h,
                    crate::remote::Entry::Net(n) if n.prefix_len() == n.max_prefix_len() => {
                        n.addr().to_string()
                    }
                    crate::remote::Entry::Net(n) => n.to_string(),
                };
                if !entries.contains(&entry) {
                    entries.push(entry);
                }
            }
            Ok(json!(entries))
        }
        Kind::NetList => {
            let mut entries: Vec<String> = Vec::new();
            for item in list_items(raw)? {
                let net = item
                    .as_str()
                    .and_then(crate::security::client_addr::parse_net)
                    .ok_or("must be a comma list of IP addresses or CIDR ranges")?;
                let entry = if net.prefix_len() == net.max_prefix_len() {
                    net.addr().to_string()
                } else {
                    net.to_string()
                };
                if !entries.contains(&entry) {
                    entries.push(entry);
                }
            }
            Ok(json!(entries))
        }
        Kind::ProxyUrl => {
            let s = as_str(raw)?.trim();
            if s.is_empty() {
                return Ok(json!(""));
            }
            let url = url::Url::parse(s).map_err(|_| "must be a URL")?;
            if !matches!(url.scheme(), "http" | "https" | "socks5" | "socks5h") {
                return Err("scheme must be http, https, socks5 or socks5h".into());
            }
            if url.host_str().is_none() {
                return Err("must include a host".into());
            }
            Ok(json!(s))
        }
        Kind::UpstreamUrl => upstream_url(as_str(raw)?).map(Value::String),
        Kind::OptionalUpstreamUrl => {
            let s = as_str(raw)?;
            if s.trim().is_empty() {
                return Ok(json!(""));
            }
            upstream_url(s).map(Value::String)
        }
        Kind::OptionalListen => {
            let s = as_str(raw)?.trim();
            if s.is_empty() {
                return Ok(json!(""));
            }
            s.parse::<std::net::SocketAddr>()
                .map_err(|_| "must be empty or an ip:port address such as 127.0.0.1:9464")?;
            Ok(json!(s))
        }
        Kind::OptionalHttpUrl => {
            let s = as_str(raw)?;
            if s.trim().is_empty() {
                return Ok(json!(""));
            }
            http_url(s).map(Value::String)
        }
        Kind::LogLevel => {
            let s = as_str(raw)?.trim().to_ascii_lowercase();
            let level = match s.as_str() {
                "warning" => "warn",
                "critical" => "error",
                other => other,
            };
            if !matches!(level, "trace" | "debug" | "info" | "warn" | "error") {
                return Err("must be one of trace, debug, info, warn, error".into());
            }
            Ok(json!(level))
        }
        Kind::TimeZone => {
            let s = as_str(raw)?.trim();
            chrono_tz::Tz::from_str(s)
                .map_err(|_| "must be an IANA time zone such as UTC or America/Los_Angeles")?;
            Ok(json!(s))
        }
        Kind::OptionalTimeZone => {
            let s = as_str(raw)?.trim();
            if s.is_empty() {
                return Ok(json!(""));
            }
            chrono_tz::Tz::from_str(s)
                .map_err(|_| "must be empty or an IANA time zone such as Asia/Shanghai")?;
            Ok(json!(s))
        }
        Kind::Location => {
            // It becomes part of a host name and a URL path: nothing else may get in.
            let s = as_str(raw)?.trim().to_ascii_lowercase();
            let ok = !s.is_empty()
                && s.len() <= 40
                && s.starts_with(|c: char| c.is_ascii_lowercase())
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !ok {
                return Err("must be a location such as global, us, eu or europe-west4".into());
            }
            Ok(json!(s))
        }
    }
}

fn as_str(raw: &Value) -> Result<&str, String> {
    raw.as_str().ok_or_else(|| "must be a string".to_string())
}

/// A list given as a JSON array or as a comma-separated string.
fn list_items(raw: &Value) -> Result<Vec<Value>, String> {
    match raw {
        Value::Array(items) => Ok(items.clone()),
        Value::String(s) => Ok(s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| json!(s))
            .collect()),
        Value::Number(_) => Ok(vec![raw.clone()]),
        _ => Err("must be a list".into()),
    }
}

/// An http(s) base URL that is https unless its host is loopback (`127.0.0.0/8`, `::1`,
/// `localhost`): refresh tokens and access tokens go to these hosts.
fn upstream_url(s: &str) -> Result<String, String> {
    let out = http_url(s)?;
    let url = url::Url::parse(&out).map_err(|_| "must be an http(s) URL")?;
    if url.scheme() == "https" || is_loopback_host(&url) {
        Ok(out)
    } else {
        Err("must be an https URL (plain http only to 127.0.0.1, [::1] or localhost)".into())
    }
}

fn is_loopback_host(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

fn http_url(s: &str) -> Result<String, String> {
    let s = s.trim();
    let url = url::Url::parse(s).map_err(|_| "must be an http(s) URL")?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("must be an http(s) URL with a host".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must be a base URL without query or fragment".into());
    }
    Ok(s.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_rules() {
        assert_eq!(parse(Kind::Bool, &json!("YES")), Ok(json!(true)));
        assert!(parse(Kind::Bool, &json!("maybe")).is_err());
        assert_eq!(
            parse(Kind::StatusCodes, &json!("403, 401,403")),
            Ok(json!([403, 401]))
        );
        assert!(parse(Kind::StatusCodes, &json!("403,200")).is_err());
        assert!(parse(Kind::StatusCodes, &json!("403,x")).is_err());
        assert_eq!(
            parse(Kind::UpstreamUrl, &json!("http://127.0.0.1:9/x/")),
            Ok(json!("http://127.0.0.1:9/x"))
        );
        assert!(parse(Kind::UpstreamUrl, &json!("ftp://h")).is_err());
        for ok in [
            "https://example.com",
            "http://127.0.0.1:8990",
            "http://127.5.0.1",
            "http://[::1]:9",
            "http://LOCALHOST:1",
        ] {
            assert!(parse(Kind::UpstreamUrl, &json!(ok)).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com",
            "http://10.0.0.1",
            "http://localhost.evil.test",
            "http://127.0.0.1.nip.io",
        ] {
            assert!(parse(Kind::UpstreamUrl, &json!(bad)).is_err(), "{bad}");
        }
        assert_eq!(parse(Kind::OptionalUpstreamUrl, &json!("")), Ok(json!("")));
        assert!(parse(Kind::OptionalUpstreamUrl, &json!("http://h.test")).is_err());
        assert!(parse(Kind::ProxyUrl, &json!("ftp://h:1")).is_err());
        assert_eq!(
            parse(Kind::ProxyUrl, &json!("socks5://127.0.0.1:1080")),
            Ok(json!("socks5://127.0.0.1:1080"))
        );
        assert!(parse(Kind::TimeZone, &json!("Mars/Base")).is_err());
        assert_eq!(
            parse(Kind::OptionalTimeZone, &json!(" ")).unwrap(),
            json!("")
        );
        assert!(parse(Kind::OptionalTimeZone, &json!("Mars/Base")).is_err());
        assert_eq!(
            parse(Kind::Location, &json!(" Europe-West4 ")),
            Ok(json!("europe-west4"))
        );
        for bad in ["", "us/../x", "a.b", "-us", "x".repeat(41).as_str()] {
            assert!(parse(Kind::Location, &json!(bad)).is_err(), "{bad}");
        }
        assert_eq!(parse(Kind::LogLevel, &json!("WARNING")), Ok(json!("warn")));
        assert!(parse(Kind::Int { min: 0, max: 20 }, &json!(21)).is_err());
        assert!(parse(Kind::Int { min: 0, max: 20 }, &json!(1.5)).is_err());
        assert!(
            parse(
                Kind::Float {
                    min: 0.01,
                    max: 10.0
                },
                &json!("0")
            )
            .is_err()
        );
        assert!(parse(Kind::List, &json!(" , ")).is_err());
        assert_eq!(
            parse(
                Kind::ModelAliases,
                &json!(" a-*= gemini-2.5-pro ,b=gemini-2.5-flash")
            ),
            Ok(json!(["a-*=gemini-2.5-pro", "b=gemini-2.5-flash"]))
        );
        assert_eq!(parse(Kind::ModelAliases, &json!("")), Ok(json!([])));
        let e = parse(Kind::ModelAliases, &json!("claude")).unwrap_err();
        assert!(e.contains("pattern=target"), "{e}");
        assert_eq!(parse(Kind::AddressList, &json!("")), Ok(json!([])));
        assert_eq!(
            parse(
                Kind::AddressList,
                &json!(" 127.0.0.1, Images.LAN,10.1.2.3/8,[::1],127.0.0.1")
            ),
            Ok(json!(["127.0.0.1", "images.lan", "10.0.0.0/8", "::1"]))
        );
        assert_eq!(
            parse(Kind::AddressList, &json!(["fd00::/8"])),
            Ok(json!(["fd00::/8"]))
        );
        assert!(parse(Kind::AddressList, &json!("10.0.0.0/33")).is_err());
        assert!(parse(Kind::AddressList, &json!("http://x")).is_err());
        assert!(parse(Kind::AddressList, &json!([1])).is_err());
        assert_eq!(
            parse(Kind::NetList, &json!(" 10.1.2.3/8, 127.0.0.1,[::1]")),
            Ok(json!(["10.0.0.0/8", "127.0.0.1", "::1"]))
        );
        assert_eq!(parse(Kind::NetList, &json!("")), Ok(json!([])));
        assert!(parse(Kind::NetList, &json!("proxy.lan")).is_err());
    }
}
