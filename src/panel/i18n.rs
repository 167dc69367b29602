//! The panel's languages (English and simplified Chinese) and the formatting of numbers and
//! times for the reader.
//!
//! Every panel string is defined once in the [`catalogue!`] table below, with its English and
//! its Chinese text side by side. The macro turns each key into a method on [`Tr`], so a
//! template writes `{{ tr.nav_overview() }}` and a handler `tr.nav_overview()`: a misspelt or
//! missing key does not compile, a key without one of its two texts does not match the macro,
//! and a message with arguments must use every argument in both languages (`format!` refuses
//! an unused named argument). The unit tests add what the compiler cannot see: no text is
//! empty, and a Chinese text is not the English one copied over.
//!
//! A typed table was chosen over Fluent files because the panel is rendered by compiled askama
//! templates: keys checked at compile time catch a typo in a template at build time, cost
//! nothing per request, and need no runtime crate or file loading.
//!
//! The language is the remembered switch (cookie [`LANG_COOKIE`], set by `POST /panel/prefs`)
//! when there is one, else the best match in `Accept-Language`, else English. The guard in
//! `web.rs` works it out once per request and keeps it in a task-local, so
//! [`Tr::current`] works in handlers and in error pages alike.
use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use poem::Request;
use poem::http::header;

/// Cookie holding the language chosen with the switch (`en` or `zh-CN`).
pub const LANG_COOKIE: &str = "gcli2api_lang";
/// Cookie holding the browser's time zone, set by `app.js` from `Intl`.
pub const TZ_COOKIE: &str = "gcli2api_tz";
/// Cookie holding the theme chosen with the switch (`light` or `dark`; absent = follow the
/// system).
pub const THEME_COOKIE: &str = "gcli2api_theme";

#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Lang {
    #[default]
    En,
    Zh,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Zh];

    /// The BCP 47 tag, for `<html lang>` and the cookie.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh-CN",
        }
    }

    /// The language's own name, for the switch.
    pub fn native_name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Zh => "简体中文",
        }
    }

    /// A language tag we serve, or `None`. Every `zh` variant gets simplified Chinese: it is
    /// the only Chinese we have, and closer to a Chinese reader than English.
    pub fn from_tag(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Lang::En),
            "zh" => Some(Lang::Zh),
            _ => None,
        }
    }

    /// The best language in an `Accept-Language` value: highest `q`, then first listed.
    pub fn from_accept_language(value: &str) -> Option<Lang> {
        let mut best: Option<(f32, Lang)> = None;
        for part in value.split(',') {
            let mut it = part.split(';');
            let Some(lang) = it.next().and_then(Lang::from_tag) else {
                continue;
            };
            let q = it
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, lang));
            }
        }
        best.map(|(_, l)| l)
    }

    /// The switch's cookie first, then `Accept-Language`, then English.
    pub fn for_request(req: &Request) -> Lang {
        if let Some(l) = cookie(req, LANG_COOKIE).and_then(Lang::from_tag) {
            return l;
        }
        req.headers()
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(Lang::from_accept_language)
            .unwrap_or_default()
    }
}

/// A cookie's value from the request (the panel's cookies hold no `;` or quotes).
pub fn cookie<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The zone times are shown in: the panel's display-zone setting when set, else the browser's
/// zone from its cookie, else UTC. The cookie holds an IANA name, with `/` percent-encoded.
pub fn display_zone(req: &Request, setting: Option<Tz>) -> Tz {
    setting
        .or_else(|| {
            cookie(req, TZ_COOKIE)
                .map(|v| v.replace("%2F", "/").replace("%2f", "/"))
                .and_then(|v| v.parse::<Tz>().ok())
        })
        .unwrap_or(Tz::UTC)
}

/// The reader's language and display zone: the catalogue's methods plus formatting. Cheap to
/// copy into every template as `tr`.
#[derive(Clone, Copy, Debug)]
pub struct Tr {
    pub lang: Lang,
    pub tz: Tz,
    /// `light`, `dark`, or `auto` (follow `prefers-color-scheme`).
    pub theme: &'static str,
}

impl Default for Tr {
    fn default() -> Self {
        Tr {
            lang: Lang::En,
            tz: Tz::UTC,
            theme: "auto",
        }
    }
}

tokio::task_local! {
    static CURRENT: Tr;
}

impl Tr {
    pub fn new(lang: Lang, tz: Tz) -> Self {
        Tr {
            lang,
            tz,
            theme: "auto",
        }
    }

    /// The reader of `req`: language, display zone (`zone_setting` overrides the browser's)
    /// and theme.
    pub fn for_request(req: &Request, zone_setting: Option<Tz>) -> Self {
        Tr {
            lang: Lang::for_request(req),
            tz: display_zone(req, zone_setting),
            theme: match cookie(req, THEME_COOKIE) {
                Some("light") => "light",
                Some("dark") => "dark",
                _ => "auto",
            },
        }
    }

    /// The reader of the request being handled (set by the panel's guard); English in UTC
    /// outside a panel request.
    pub fn current() -> Tr {
        CURRENT.try_with(|t| *t).unwrap_or_default()
    }

    /// Runs `fut` with `self` as [`Tr::current`].
    pub async fn scope<F: std::future::Future>(self, fut: F) -> F::Output {
        CURRENT.scope(self, fut).await
    }

    pub fn code(&self) -> &'static str {
        self.lang.code()
    }

    pub fn is(&self, code: &str) -> bool {
        self.lang.code() == code
    }

    /// An integer with thousands separators (both languages group by three with a comma).
    pub fn num(&self, n: impl Into<i128>) -> String {
        group_thousands(n.into())
    }

    /// A share as a percentage with one decimal.
    pub fn percent(&self, share: f64) -> String {
        format!("{:.1}%", share * 100.0)
    }

    /// Date and time in the display zone, with the zone's abbreviation.
    pub fn datetime(&self, at: DateTime<Utc>) -> String {
        let local = at.with_timezone(&self.tz);
        match self.lang {
            Lang::En => local.format("%-d %b %Y %H:%M:%S %Z").to_string(),
            Lang::Zh => local.format("%Y年%-m月%-d日 %H:%M:%S %Z").to_string(),
        }
    }

    /// Like [`Tr::datetime`] for an RFC 3339 string; an unparsable one is returned as is.
    pub fn datetime_str(&self, rfc3339: &str) -> String {
        DateTime::parse_from_rfc3339(rfc3339)
            .map(|d| self.datetime(d.with_timezone(&Utc)))
            .unwrap_or_else(|_| rfc3339.to_string())
    }

    /// The zone's IANA name, to say which zone the times are in.
    pub fn zone_name(&self) -> &'static str {
        self.tz.name()
    }

    /// A wall-clock time of day in `zone` (e.g. the quota reset), in words with the zone.
    pub fn time_of_day_in(&self, hour: u32, minute: u32, zone: Tz) -> String {
        let abbrev = zone
            .with_ymd_and_hms(2026, 1, 1, hour.min(23), minute.min(59), 0)
            .single()
            .map(|d| d.format("%Z").to_string())
            .unwrap_or_default();
        format!("{hour:02}:{minute:02} {} ({abbrev})", zone.name())
    }

    /// A span of time in words: "3 h 20 min", "3小时20分钟".
    pub fn duration(&self, secs: i64) -> String {
        let s = secs.max(0);
        let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
        let parts: [(i64, &str, &str); 3] =
            [(d, " d", "天"), (h, " h", "小时"), (m, " min", "分钟")];
        let mut out = String::new();
        for (n, en, zh) in parts {
            if n == 0 {
                continue;
            }
            match self.lang {
                Lang::En => {
                    if !out.is_empty() {
                        out.push(' ');
                    }
                    out.push_str(&format!("{n}{en}"));
                }
                Lang::Zh => out.push_str(&format!("{n}{zh}")),
            }
        }
        if out.is_empty() {
            return match self.lang {
                Lang::En => format!("{s} s"),
                Lang::Zh => format!("{s}秒"),
            };
        }
        out
    }
}

/// The switches' form: either field may be absent.
#[derive(serde::Deserialize)]
pub struct PrefsForm {
    lang: Option<String>,
    theme: Option<String>,
}

/// Where to go after a switch: back to the panel page the form was on (from `Referer`,
/// same-origin only), else the panel's start.
fn back_to(req: &Request) -> String {
    req.headers()
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| url::Url::parse(r).ok())
        .filter(|u| {
            let host = req
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok());
            let authority = match u.port() {
                Some(p) => format!("{}:{p}", u.host_str().unwrap_or_default()),
                None => u.host_str().unwrap_or_default().to_string(),
            };
            host.is_some_and(|h| h.eq_ignore_ascii_case(&authority))
        })
        .map(|u| match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_string(),
        })
        .filter(|p| p.starts_with("/panel") && !p.starts_with("/panel/prefs"))
        .unwrap_or_else(|| "/panel".into())
}

/// `POST /panel/prefs`: remembers the language and theme switches in cookies (a year), then
/// goes back to the page. Not behind the session: the sign-in page has the switches too.
#[poem::handler]
pub fn save_prefs(
    req: &Request,
    poem::web::Form(form): poem::web::Form<PrefsForm>,
) -> poem::Response {
    const YEAR: u32 = 365 * 86_400;
    let mut r = poem::Response::builder()
        .status(poem::http::StatusCode::SEE_OTHER)
        .header(header::LOCATION, back_to(req))
        .finish();
    let mut set = |name: &str, value: Option<&str>| {
        let c = match value {
            Some(v) => format!("{name}={v}; Path=/panel; SameSite=Strict; Max-Age={YEAR}"),
            None => format!("{name}=; Path=/panel; SameSite=Strict; Max-Age=0"),
        };
        if let Ok(v) = c.parse() {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
    };
    if let Some(l) = form.lang.as_deref() {
        set(LANG_COOKIE, Lang::from_tag(l).map(Lang::code));
    }
    if let Some(t) = form.theme.as_deref() {
        set(
            THEME_COOKIE,
            match t {
                "light" => Some("light"),
                "dark" => Some("dark"),
                _ => None,
            },
        );
    }
    r
}

fn group_thousands(n: i128) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Defines the catalogue: `key: "English" / "中文",` for plain texts, and
/// `key(arg, …): "… {arg} …" / "… {arg} …",` for messages with arguments.
macro_rules! catalogue {
    (
        texts { $( $key:ident : $en:literal / $zh:literal , )* }
        messages { $( $mkey:ident ( $($arg:ident),+ ) : $men:literal / $mzh:literal , )* }
    ) => {
        impl Tr {
            $(
                pub fn $key(&self) -> &'static str {
                    match self.lang {
                        Lang::En => $en,
                        Lang::Zh => $zh,
                    }
                }
            )*
            $(
                #[allow(clippy::too_many_arguments)]
                pub fn $mkey(&self, $($arg: impl std::fmt::Display),+) -> String {
                    match self.lang {
                        Lang::En => format!($men, $($arg = $arg),+),
                        Lang::Zh => format!($mzh, $($arg = $arg),+),
                    }
                }
            )*
        }

        /// Every entry as (key, English, Chinese), for the tests.
        #[cfg(test)]
        pub const ENTRIES: &[(&str, &str, &str)] = &[
            $( (stringify!($key), $en, $zh), )*
            $( (stringify!($mkey), $men, $mzh), )*
        ];
    };
}

catalogue! {
    texts {
        // Layout, navigation and the switches.
        brand_title: "gcli2api" / "gcli2api",
        nav_label: "Main" / "主导航",
        nav_overview: "Overview" / "概览",
        nav_credentials: "Credentials" / "凭据",
        nav_oauth: "Sign in with Google" / "Google 登录",
        nav_usage: "Usage" / "用量",
        nav_settings: "Settings" / "设置",
        nav_logs: "Logs" / "日志",
        nav_audit: "Audit log" / "审计日志",
        nav_keys: "Client keys" / "客户端密钥",
        sign_out: "Sign out" / "退出登录",
        prefs_label: "Display preferences" / "显示偏好",
        language: "Language" / "语言",
        theme: "Theme" / "主题",
        theme_auto: "System" / "跟随系统",
        theme_light: "Light" / "浅色",
        theme_dark: "Dark" / "深色",
        apply: "Apply" / "应用",
        notifications: "Notifications" / "通知",

        // Sign-in page.
        login_title: "Sign in" / "登录",
        login_password: "Panel password" / "面板密码",
        login_submit: "Sign in" / "登录",
        login_hint: "The password is PANEL_PASSWORD, or PASSWORD when that is unset." / "密码为 PANEL_PASSWORD；未设置时为 PASSWORD。",
        login_wrong: "Wrong password." / "密码错误。",

        // Errors.
        error_title: "Error" / "错误",
        error_back: "Back to the panel" / "返回面板",
        error_internal: "Something went wrong on the server; the log has the details." / "服务器出错了，详情请看日志。",

        // Script texts (handed to app.js).
        js_no_answer: "The gateway did not answer." / "网关没有响应。",
        js_copy_failed: "Copy failed; select the text instead." / "复制失败，请手动选中文本。",
        js_selected: "Selected; press Ctrl+C to copy." / "已选中，请按 Ctrl+C 复制。",
        js_now: "now" / "现在",
        js_copied: "Copied:" / "已复制：",
        // Client keys page.
        keys_intro: "API keys for proxy clients, each with its own limits and allow-lists. The built-in API_PASSWORD key keeps working without limits. Changes apply to the next request." / "供代理客户端使用的 API 密钥，每个密钥有自己的限额和允许列表。内置的 API_PASSWORD 密钥仍然可用且不受限制。修改在下一个请求生效。",
        keys_new: "New key" / "新建密钥",
        keys_name: "Name" / "名称",
        keys_note: "Note" / "备注",
        keys_models: "Models (comma list, * at the end for a prefix; empty: all)" / "模型（逗号分隔，末尾 * 表示前缀；留空：全部）",
        keys_kinds: "Credential kinds (none checked: all)" / "凭据类型（不勾选：全部）",
        keys_daily_requests: "Requests per day (0: no limit)" / "每日请求数（0：不限）",
        keys_daily_tokens: "Tokens per day (0: no limit)" / "每日令牌数（0：不限）",
        keys_rpm: "Requests per minute (0: no limit)" / "每分钟请求数（0：不限）",
        keys_expires_days: "Expires in days (empty: never)" / "有效天数（留空：永不过期）",
        keys_create: "Create key" / "创建密钥",
        keys_secret_once: "Copy this key now: it is shown only once and cannot be read again." / "请立即复制此密钥：它只显示这一次，之后无法再次查看。",
        keys_copy: "Copy" / "复制",
        keys_table_label: "Client keys" / "客户端密钥列表",
        keys_none: "No client keys yet." / "还没有客户端密钥。",
        keys_col_prefix: "Key starts with" / "密钥开头",
        keys_col_state: "State" / "状态",
        keys_col_models: "Models" / "模型",
        keys_col_kinds: "Kinds" / "类型",
        keys_col_limits: "Limits (day / tokens / minute)" / "限额（每日 / 令牌 / 每分钟）",
        keys_col_today: "Today (requests / tokens)" / "今日（请求 / 令牌）",
        keys_col_expires: "Expires" / "过期时间",
        keys_col_actions: "Actions" / "操作",
        keys_state_on: "enabled" / "已启用",
        keys_state_off: "disabled" / "已停用",
        keys_state_expired: "expired" / "已过期",
        keys_enable: "Enable" / "启用",
        keys_disable: "Disable" / "停用",
        keys_revoke: "Revoke" / "吊销",
        keys_revoke_confirm: "Revoke this key? Clients using it are refused from their next request." / "确定吊销此密钥？使用它的客户端将从下一个请求起被拒绝。",
        keys_never: "never" / "永不",
        keys_any_text: "all" / "全部",
        usage_by_key: "By client key (api-password: the built-in key)" / "按客户端密钥（api-password：内置密钥）",
    }
    messages {
        page_title(page): "{page} · gcli2api" / "{page} · gcli2api",
        keys_limits(day, tokens, minute): "{day} / {tokens} / {minute}" / "每日 {day} / 令牌 {tokens} / 每分钟 {minute}",
        keys_bad_number(field): "'{field}' must be a whole number" / "“{field}”必须是整数",
        keys_name_taken(what): "{what} already exists" / "{what} 已存在",
        keys_created(name): "Key '{name}' created" / "已创建密钥“{name}”",
        keys_enabled(name): "Key '{name}' enabled" / "已启用密钥“{name}”",
        keys_disabled(name): "Key '{name}' disabled" / "已停用密钥“{name}”",
        usage_deleted_key(id): "deleted key #{id}" / "已删除的密钥 #{id}",
        keys_revoked(name): "Key '{name}' revoked" / "已吊销密钥“{name}”",
        login_throttled(secs): "Too many failed attempts from this address; try again in {secs} s." / "此地址失败次数过多，请 {secs} 秒后再试。",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Texts that are the same in both languages on purpose (names, codes, pure numbers).
    const SAME_ON_PURPOSE: &[&str] = &["brand_title", "page_title"];

    #[test]
    fn every_key_has_both_texts_and_the_chinese_is_translated() {
        let mut seen = std::collections::HashSet::new();
        for (key, en, zh) in ENTRIES {
            assert!(seen.insert(*key), "key {key} defined twice");
            assert!(!en.trim().is_empty(), "key {key}: English text is empty");
            assert!(!zh.trim().is_empty(), "key {key}: Chinese text is empty");
            if !SAME_ON_PURPOSE.contains(key) {
                assert_ne!(en, zh, "key {key}: Chinese text is the English one");
                assert!(
                    zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
                    "key {key}: Chinese text has no Chinese: {zh}"
                );
            }
        }
    }

    #[test]
    fn placeholders_match_between_languages() {
        fn holes(s: &str) -> Vec<&str> {
            let mut v: Vec<&str> = s
                .split('{')
                .skip(1)
                .filter_map(|p| p.split_once('}').map(|(h, _)| h))
                .collect();
            v.sort_unstable();
            v
        }
        for (key, en, zh) in ENTRIES {
            assert_eq!(holes(en), holes(zh), "key {key}: placeholders differ");
        }
    }

    #[test]
    fn accept_language_picks_the_best_served_language() {
        assert_eq!(
            Lang::from_accept_language("zh-CN,zh;q=0.9,en;q=0.8"),
            Some(Lang::Zh)
        );
        assert_eq!(
            Lang::from_accept_language("fr-FR, en;q=0.5, zh;q=0.4"),
            Some(Lang::En)
        );
        assert_eq!(
            Lang::from_accept_language("en;q=0.2, zh-Hans;q=0.7"),
            Some(Lang::Zh)
        );
        assert_eq!(Lang::from_accept_language("de, fr"), None);
        assert_eq!(Lang::from_accept_language("zh;q=0, en"), Some(Lang::En));
    }

    #[test]
    fn the_switch_wins_over_accept_language() {
        let req = Request::builder()
            .header("accept-language", "en-US,en")
            .header("cookie", "x=1; gcli2api_lang=zh-CN")
            .finish();
        assert_eq!(Lang::for_request(&req), Lang::Zh);
        let req = Request::builder()
            .header("accept-language", "zh-CN")
            .finish();
        assert_eq!(Lang::for_request(&req), Lang::Zh);
        let req = Request::builder().finish();
        assert_eq!(Lang::for_request(&req), Lang::En);
    }

    #[test]
    fn numbers_get_thousands_separators() {
        let t = Tr::default();
        assert_eq!(t.num(0u32), "0");
        assert_eq!(t.num(999u32), "999");
        assert_eq!(t.num(1000u32), "1,000");
        assert_eq!(t.num(1_234_567u64), "1,234,567");
        assert_eq!(t.num(-12_345i64), "-12,345");
    }

    #[test]
    fn times_show_their_zone_in_both_languages() {
        let at = Utc.with_ymd_and_hms(2026, 12, 7, 3, 4, 5).single().unwrap();
        let en = Tr::new(Lang::En, chrono_tz::Asia::Shanghai);
        assert_eq!(en.datetime(at), "7 Dec 2026 11:04:05 CST");
        let zh = Tr::new(Lang::Zh, chrono_tz::Europe::Berlin);
        assert_eq!(zh.datetime(at), "2026年12月7日 04:04:05 CET");
        assert_eq!(
            Tr::default().time_of_day_in(0, 0, chrono_tz::America::Los_Angeles),
            "00:00 America/Los_Angeles (PST)"
        );
        assert_eq!(zh.duration(3 * 3600 + 20 * 60), "3小时20分钟");
        assert_eq!(en.duration(90_000), "1 d 1 h");
        assert_eq!(en.duration(42), "42 s");
    }

    #[test]
    fn the_display_zone_comes_from_the_setting_then_the_browser() {
        let req = Request::builder()
            .header("cookie", "gcli2api_tz=Asia%2FShanghai")
            .finish();
        assert_eq!(display_zone(&req, None), chrono_tz::Asia::Shanghai);
        assert_eq!(
            display_zone(&req, Some(chrono_tz::Europe::Paris)),
            chrono_tz::Europe::Paris
        );
        let req = Request::builder()
            .header("cookie", "gcli2api_tz=Not%2FAZone")
            .finish();
        assert_eq!(display_zone(&req, None), Tz::UTC);
    }
}
