//! Defences shared by every surface: the failure limiter for wrong secrets, and the real
//! client address behind trusted proxies.
pub mod attempts;
pub mod client_addr;

pub use attempts::FailureLimiter;
pub use client_addr::{ClientAddrs, TrustedProxies, client_ip};

/// A URL with any password in its userinfo replaced by `***` (`http://user:***@host:3128`),
/// for showing a proxy setting in the panel, the API and the logs. Anything that does not
/// parse as a URL is returned as is: it holds no userinfo a URL parser would find.
pub fn mask_userinfo(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            let s = u.to_string();
            // `Url` adds a trailing slash to an empty path; the setting had none.
            if !raw.ends_with('/') {
                s.strip_suffix('/').map(str::to_string).unwrap_or(s)
            } else {
                s
            }
        }
        _ => raw.to_string(),
    }
}

/// The password part of a URL's userinfo, to register with log redaction.
pub fn userinfo_password(raw: &str) -> Option<String> {
    url::Url::parse(raw)
        .ok()
        .and_then(|u| u.password().map(str::to_string))
        .filter(|p| !p.is_empty())
}

#[cfg(test)]
mod tests {
    #[test]
    fn proxy_passwords_are_masked() {
        assert_eq!(
            super::mask_userinfo("http://user:s3cret@proxy.lan:3128"),
            "http://user:***@proxy.lan:3128"
        );
        assert_eq!(
            super::mask_userinfo("socks5://u:p%40ss@10.0.0.1:1080"),
            "socks5://u:***@10.0.0.1:1080"
        );
        assert_eq!(
            super::mask_userinfo("http://proxy.lan:3128"),
            "http://proxy.lan:3128"
        );
        assert_eq!(super::mask_userinfo(""), "");
        assert_eq!(
            super::userinfo_password("http://user:s3cret@proxy.lan:3128").as_deref(),
            Some("s3cret")
        );
    }
}
