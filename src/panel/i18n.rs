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
    pub fn num(&self, n: impl Integer) -> String {
        group_thousands(n.as_i128())
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
        if abbrev.is_empty() || abbrev == zone.name() {
            return format!("{hour:02}:{minute:02} {}", zone.name());
        }
        format!("{hour:02}:{minute:02} {} ({abbrev})", zone.name())
    }

    /// A credential status (or the filter's `all`) for people.
    pub fn status_word(&self, status: &str) -> &'static str {
        match status {
            "active" => self.st_active(),
            "cooling" => self.st_cooling(),
            "disabled" => self.st_disabled(),
            "banned" => self.st_banned(),
            _ => self.st_all(),
        }
    }

    /// A credential kind (or the filter's `all`) for people.
    pub fn kind_label(&self, kind: &str) -> &'static str {
        match kind {
            "all" => self.st_all(),
            "code_assist" => self.kind_code_assist(),
            "gemini_api_key" => self.kind_gemini_api_key(),
            "vertex_service_account" => self.kind_vertex_service_account(),
            "vertex_express_key" => self.kind_vertex_express_key(),
            _ => self.kind_other(),
        }
    }

    /// An import outcome (`imported`, `duplicate`, `rejected`) for people.
    pub fn outcome_word(&self, outcome: &str) -> &'static str {
        match outcome {
            "imported" => self.up_outcome_imported(),
            "duplicate" => self.up_outcome_duplicate(),
            _ => self.up_outcome_rejected(),
        }
    }

    /// A log level for people.
    pub fn level_word(&self, level: &str) -> &'static str {
        match level {
            "trace" => self.level_trace(),
            "debug" => self.level_debug(),
            "info" => self.level_info(),
            "warn" => self.level_warn(),
            _ => self.level_error(),
        }
    }

    /// A log line's time: date, milliseconds and zone (the same in both languages, as logs
    /// are read next to other logs).
    pub fn log_time(&self, at: DateTime<Utc>) -> String {
        at.with_timezone(&self.tz)
            .format("%Y-%m-%d %H:%M:%S%.3f %Z")
            .to_string()
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
/// goes back to the page. Not behind the session: the sign-in page has the switches too. The
/// cookies are for the whole site so Google's redirect page (`/oauth2callback`) follows them.
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
            Some(v) => format!("{name}={v}; Path=/; SameSite=Strict; Max-Age={YEAR}"),
            None => format!("{name}=; Path=/; SameSite=Strict; Max-Age=0"),
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

/// Any integer (or a reference to one, as templates hold), for [`Tr::num`].
pub trait Integer {
    fn as_i128(&self) -> i128;
}

macro_rules! integer {
    ($($t:ty),*) => {$(
        impl Integer for $t {
            fn as_i128(&self) -> i128 {
                i128::from(*self)
            }
        }
    )*};
}
integer!(u8, u16, u32, u64, i8, i16, i32, i64);

impl Integer for usize {
    fn as_i128(&self) -> i128 {
        // usize is at most 64 bits on every target we build for.
        i128::try_from(*self).unwrap_or(i128::MAX)
    }
}

impl<T: Integer + ?Sized> Integer for &T {
    fn as_i128(&self) -> i128 {
        (**self).as_i128()
    }
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

        // Request log.
        nav_requests: "Requests" / "请求记录",
        nav_charts: "Charts" / "图表",
        rl_title: "Request log" / "请求记录",
        rl_intro: "Recent proxied requests, newest first. Rows are written in the background and appear within about a second." / "最近经过网关的请求，最新的在前。记录在后台批量写入，约一秒内出现。",
        rl_off: "The request log is off (REQUEST_LOG): new requests are not recorded." / "请求记录已关闭（REQUEST_LOG）：新请求不会被记录。",
        rl_prompts_on: "Prompt excerpts are being stored (REQUEST_LOG_PROMPTS is on). They may hold personal or confidential data." / "正在保存提示词摘录（REQUEST_LOG_PROMPTS 已开启），其中可能含有个人或机密信息。",
        rl_prompts_off: "Prompt text is not stored (REQUEST_LOG_PROMPTS is off)." / "不保存提示词文本（REQUEST_LOG_PROMPTS 已关闭）。",
        rl_filters: "Filters" / "筛选",
        rl_status: "Status" / "状态码",
        rl_status_any: "Any" / "全部",
        rl_status_errors: "Errors (400 and up)" / "错误（400 及以上）",
        rl_model: "Model" / "模型",
        rl_credential: "Credential" / "凭据",
        rl_credential_any: "Any" / "全部",
        rl_credential_none: "None (no credential served it)" / "无（未由凭据处理）",
        rl_surface: "Surface" / "接口",
        rl_from: "From" / "起始时间",
        rl_to: "To" / "结束时间",
        rl_filter: "Filter" / "筛选",
        rl_clear: "Clear" / "清除",
        rl_csv: "Download CSV" / "下载 CSV",
        rl_time: "Time" / "时间",
        rl_client_model: "Client model" / "客户端模型",
        rl_served_model: "Served model" / "实际模型",
        rl_latency: "Latency" / "耗时",
        rl_tokens: "Tokens in / out" / "输入 / 输出词元",
        rl_details: "Details" / "详情",
        rl_empty: "No request matches." / "没有符合条件的请求。",
        rl_newer: "Newer" / "较新",
        rl_older: "Older" / "较早",
        rl_detail_title: "Request" / "请求",
        rl_back: "Back to the request log" / "返回请求记录",
        rl_outcome: "Outcome" / "结果",
        rl_stream: "Stream" / "流式",
        rl_yes: "yes" / "是",
        rl_no: "no" / "否",
        rl_ttfb: "Time to first byte" / "首字节时间",
        rl_attempts: "Upstream attempts" / "上游尝试次数",
        rl_reasoning: "Reasoning tokens" / "推理词元",
        rl_client: "Client address" / "客户端地址",
        rl_error: "Error reason" / "错误原因",
        rl_prompt: "Prompt excerpt (REQUEST_LOG_PROMPTS)" / "提示词摘录（REQUEST_LOG_PROMPTS）",
        rl_not_found: "This request is not in the log (it may have been purged)." / "记录中没有此请求（可能已被清理）。",
        rl_deleted: "deleted" / "已删除",

        // Charts.
        ch_title: "Charts" / "图表",
        ch_period: "Period" / "时间范围",
        ch_48h: "Last 48 hours, per hour" / "最近 48 小时（按小时）",
        ch_30d: "Last 30 days, per day" / "最近 30 天（按天）",
        ch_by: "Group by" / "分组方式",
        ch_by_model: "Model" / "模型",
        ch_by_credential: "Credential" / "凭据",
        ch_by_kind: "Credential kind" / "凭据类型",
        ch_show: "Show" / "显示",
        ch_requests: "Requests" / "请求数",
        ch_tokens: "Tokens" / "词元数",
        ch_errors: "Errors by code" / "按错误码统计的错误",
        ch_errors_daily_note: "Per day, failed upstream calls by code (a request may take several calls)." / "按天统计失败的上游调用（一个请求可能包含多次调用）。",
        ch_numbers: "Numbers (table)" / "数值（表格）",
        ch_total: "Total" / "合计",
        ch_other: "other" / "其他",
        ch_none: "(no credential)" / "（无凭据）",
        ch_no_data: "No data in this period." / "此时间范围内没有数据。",
        ch_quota: "Today's quota use per credential" / "各凭据今日配额用量",
        ch_quota_credential: "Credential" / "凭据",
        ch_quota_use: "Use" / "用量",
        ch_quota_used: "Used / limit" / "已用 / 上限",
        ch_unlimited: "no limit" / "无上限",
        ch_no_credentials: "No credentials yet." / "还没有凭据。",
        ch_legend: "Legend" / "图例",

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
        keys_edit: "Edit" / "编辑",
        se_at_rest: "Credential secrets at rest" / "凭据密钥的存储加密",
        se_at_rest_on_badge: "encrypted" / "已加密",
        se_at_rest_on: "Refresh tokens, API keys, private keys and the saved proxy URL are encrypted in the database with SECRETS_KEY (XChaCha20-Poly1305). Keep that key apart from the data directory and its backups." / "刷新令牌、API 密钥、私钥和保存的代理 URL 在数据库中用 SECRETS_KEY 加密（XChaCha20-Poly1305）。请把该密钥与数据目录及其备份分开保存。",
        se_at_rest_off_badge: "plain text" / "明文",
        se_at_rest_off: "Refresh tokens, API keys, private keys and the saved proxy URL are stored in plain text: anyone who gets the database file or a backup can use them. Set SECRETS_KEY (or SECRETS_KEY_FILE) in the environment and restart to encrypt them." / "刷新令牌、API 密钥、私钥和保存的代理 URL 以明文存储：拿到数据库文件或备份的人都能使用它们。请在环境变量中设置 SECRETS_KEY（或 SECRETS_KEY_FILE）并重启以加密。",
        keys_save: "Save" / "保存",
        keys_cancel: "Cancel" / "取消",
        keys_expires_edit: "Expires in days from now (empty: keep, 0: never)" / "从现在起的有效天数（留空：不变；0：永不过期）",
        keys_expires_now: "Expires now" / "当前过期时间",
        usage_by_key: "By client key (api-password: the built-in key)" / "按客户端密钥（api-password：内置密钥）",

        // Words shared by several pages.
        st_active: "active" / "可用",
        st_cooling: "cooling" / "冷却中",
        st_disabled: "disabled" / "已停用",
        st_banned: "banned" / "已封禁",
        st_all: "all" / "全部",

        // Overview.
        ov_pool: "Credential pool" / "凭据池",
        ov_credentials: "credentials" / "个凭据",
        ov_cooling: "cooling down" / "冷却中",
        ov_in_flight: "calls in flight" / "进行中的调用",
        ov_reset_title: "Daily quotas" / "每日配额",
        ov_clients: "Settings for your clients" / "客户端设置",
        ov_clients_hint: "Each client's exact setting for this gateway. Put the API password in the named environment variable." / "各客户端连接本网关的确切设置。把 API 密码放进所列的环境变量。",
        ov_client: "Client" / "客户端",
        ov_setting: "Setting" / "设置",
        ov_copy: "Copy" / "复制",

        // Credentials.
        cr_credential: "Credential" / "凭据",
        cr_status: "Status" / "状态",
        cr_kind: "Kind" / "类型",
        cr_per_page: "Per page" / "每页",
        cr_cooldowns: "Cooldowns" / "冷却",
        cr_errors: "Errors" / "错误",
        cr_today: "Today" / "今日",
        cr_today_used: "Today (used/limit)" / "今日（已用/上限）",
        cr_in_flight: "In flight" / "进行中",
        cr_actions: "Actions" / "操作",
        cr_none: "No credentials match." / "没有符合条件的凭据。",
        cr_prev: "Previous" / "上一页",
        cr_next: "Next" / "下一页",
        cr_all: "all" / "全部",
        cr_pro: "pro" / "pro 模型",
        cr_quota_group: "Quota group" / "配额组",
        cr_own_group: "own group" / "独立组",
        cr_set: "Set" / "设置",
        cr_how_to_fix: "How to fix" / "如何解决",
        cr_disable: "Disable" / "停用",
        cr_enable: "Enable" / "启用",
        cr_unban: "Unban" / "解封",
        cr_identify: "Identify" / "识别",
        cr_export: "Export" / "导出",
        cr_delete: "Delete" / "删除",
        cr_add_files: "Add credential files" / "添加凭据文件",
        cr_files: "Credential files (.json, .zip)" / "凭据文件（.json、.zip）",
        cr_upload: "Upload" / "上传",
        cr_upload_progress: "Upload progress" / "上传进度",
        cr_files_hint: "Gemini CLI oauth_creds.json, gcloud authorized_user files, Vertex service-account key files (\"type\": \"service_account\"), exported credentials, or a ZIP of them. Files are sorted by what they hold." / "Gemini CLI 的 oauth_creds.json、gcloud 的 authorized_user 文件、Vertex 服务账号密钥文件（\"type\": \"service_account\"）、导出的凭据，或它们的 ZIP。文件按内容自动分类。",
        cr_export_all: "Export all as ZIP" / "全部导出为 ZIP",
        cr_export_warn: "The files hold refresh tokens: keep them safe." / "文件里有刷新令牌，请妥善保管。",
        cr_add_keys: "Add API keys" / "添加 API 密钥",
        cr_keys_hint: "One key per line, or comma-separated. KEY@group names the Google project a key belongs to: keys of one project share its quota, so they share cooldowns. Each key is checked with Google before it is added. Gemini API keys and Vertex express keys both start with AQ.: paste each kind in its own box." / "每行一个密钥，或用逗号分隔。KEY@group 指明密钥所属的 Google 项目：同一项目的密钥共享配额，因此也共享冷却。每个密钥添加前都会向 Google 核验。Gemini API 密钥和 Vertex 快速密钥都以 AQ. 开头：请分别粘贴到各自的框中。",
        cr_gemini_keys: "Gemini API keys (AI Studio)" / "Gemini API 密钥（AI Studio）",
        cr_vertex_keys: "Vertex express keys" / "Vertex 快速密钥",
        cr_group_default: "Quota group for keys without one" / "未指定配额组的密钥所用的组",
        cr_add_gemini: "Add Gemini API keys" / "添加 Gemini API 密钥",
        cr_add_vertex: "Add Vertex express keys" / "添加 Vertex 快速密钥",
        kind_code_assist: "Code Assist (Google sign-in)" / "Code Assist（Google 登录）",
        kind_gemini_api_key: "Gemini API key" / "Gemini API 密钥",
        kind_vertex_service_account: "Vertex service account" / "Vertex 服务账号",
        kind_vertex_express_key: "Vertex express key" / "Vertex 快速密钥",
        kind_other: "other" / "其他",
        src_upload: "upload" / "上传",
        src_env: "environment" / "环境变量",
        src_oauth: "sign-in" / "登录",
        src_dir: "directory" / "目录",
        src_demo: "demo" / "演示",
        ban_auto: "auto-ban" / "自动封禁",
        ban_revoked: "refresh token revoked" / "刷新令牌已被撤销",
        ban_no_refresh: "no refresh token" / "没有刷新令牌",
        ban_ineligible: "account not eligible" / "账号不符合条件",
        ban_rejected: "refused by Google" / "被 Google 拒绝",
        cd_rate_limited: "rate limited" / "被限流",
        cd_quota: "quota exhausted" / "配额用尽",
        cd_probing: "probing" / "探测中",
        cd_daily: "daily quota spent" / "当日配额已用完",
        cd_overloaded: "overloaded" / "过载",
        up_file: "File" / "文件",
        up_entry: "Entry" / "条目",
        up_result: "Result" / "结果",
        up_details: "Details" / "详情",
        up_outcome_imported: "imported" / "已导入",
        up_outcome_duplicate: "duplicate" / "重复",
        up_outcome_rejected: "rejected" / "已拒绝",
        up_toast_none: "Nothing was imported; see the table for why." / "没有导入任何内容，原因见表格。",
        up_toast_no_keys: "No key was added; see the table for why." / "没有添加任何密钥，原因见表格。",
        up_choose_files: "Choose one or more .json or .zip files first." / "请先选择一个或多个 .json 或 .zip 文件。",
        up_choose_kind: "Choose Gemini API keys or Vertex express keys." / "请选择 Gemini API 密钥或 Vertex 快速密钥。",
        up_paste_keys: "Paste one or more keys first." / "请先粘贴一个或多个密钥。",

        // Sign in with Google.
        oa_intro: "Adds a credential by signing in with a Google account, as Gemini CLI does (offline access, PKCE)." / "用 Google 账号登录来添加凭据，方式与 Gemini CLI 相同（离线访问，PKCE）。",
        oa_project: "Google Cloud project (optional)" / "Google Cloud 项目（可选）",
        oa_project_auto: "found automatically" / "自动查找",
        oa_start: "Start sign-in" / "开始登录",
        oa_step1_a: "Open" / "打开",
        oa_step1_link: "Google's sign-in page" / "Google 登录页面",
        oa_step1_b: " and allow access. The link works once, for 10 minutes." / "并允许访问。链接只能用一次，10 分钟内有效。",
        oa_step3: "Otherwise the browser ends on an error page at localhost: copy that whole address from the address bar and paste it here. This page notices a sign-in finished in another tab by itself." / "否则浏览器会停在 localhost 的错误页面：从地址栏复制完整地址并粘贴到这里。在其他标签页完成的登录，本页会自动发现。",
        oa_paste_label: "Address the browser ended on" / "浏览器最后停留的地址",
        oa_finish: "Finish" / "完成",
        oa_project_too_long: "The project id is too long." / "项目 ID 太长。",
        oa_bad_auth_url: "OAUTH_AUTH_URL is not an http(s) address." / "OAUTH_AUTH_URL 不是 http(s) 地址。",
        oa_address_too_long: "That address is too long." / "这个地址太长。",
        oa_cb_title: "Google sign-in" / "Google 登录",
        oa_cb_signed_in: "Signed in" / "登录成功",
        oa_cb_failed: "Sign-in failed" / "登录失败",
        oa_cb_close: "You can close this tab: the open panel shows the credential by itself." / "可以关闭此标签页：已打开的面板会自动显示该凭据。",
        oa_cb_to_panel: "Open the credentials page" / "打开凭据页面",

        // Usage.
        us_per_credential: "Per credential" / "按凭据",
        us_per_credential_hint: "Calls since the counters were last reset; today's use of the daily allowance." / "自计数器上次重置以来的调用次数，以及今日配额的使用情况。",
        us_calls: "Calls" / "调用",
        us_ok: "OK" / "成功",
        us_failed: "Failed" / "失败",
        us_success: "Success" / "成功率",
        us_today_all: "Today all" / "今日全部",
        us_today_pro: "Today pro" / "今日 pro",
        us_next_reset: "Next reset" / "下次重置",
        us_history: "History" / "历史",
        us_days: "Days" / "天数",
        us_group: "Group" / "分组",
        us_requests: "Requests" / "请求",
        us_upstream_calls: "Upstream calls" / "上游调用",
        us_prompt_tokens: "Prompt tokens" / "输入 token",
        us_output_tokens: "Output tokens" / "输出 token",
        us_reasoning_tokens: "Reasoning tokens" / "推理 token",
        us_by_day: "By day" / "按天",
        us_by_model: "By model" / "按模型",
        us_by_kind: "By kind of credential" / "按凭据类型",
        us_by_credential: "By credential" / "按凭据",
        us_no_credential: "(no credential)" / "（无凭据）",

        // Settings.
        se_gateway: "Gateway" / "网关",
        se_intro: "Values set by environment variables or the config file are locked here. “live” settings apply at once; the others after a restart." / "由环境变量或配置文件设置的值在这里锁定。“即时”设置立即生效，其余的重启后生效。",
        se_passwords: "Passwords" / "密码",
        se_groups: "Setting groups" / "设置分组",
        se_on: "on" / "开",
        se_off: "off" / "关",
        se_reset: "Reset to default" / "恢复默认",
        se_live: "live" / "即时",
        se_restart: "restart" / "需重启",
        se_restart_pending: "restart pending" / "等待重启",
        se_default_empty: "default: empty" / "默认：空",
        se_default_is: "default:" / "默认：",
        times_in_before: "Times are shown in" / "时间按",
        times_in_after: "." / " 显示。",
        se_save: "Save settings" / "保存设置",
        se_password_hint: "Needed only to change an upstream URL or PROXY (they decide where refresh tokens are sent)." / "只有修改上游地址或 PROXY 时需要（它们决定刷新令牌发往哪里）。",
        se_nothing_changed: "Nothing changed." / "没有改动。",
        se_saved: "Settings saved" / "设置已保存",
        se_src_env: "env" / "环境变量",
        se_src_file: "config file" / "配置文件",
        se_src_saved: "saved" / "已保存",
        se_src_default: "default" / "默认",
        se_locked_file: "locked by the config file" / "由配置文件锁定",
        sg_access: "Access" / "访问",
        sg_access_hint: "Who may call the gateway and how much at once." / "谁可以调用网关，以及同时能处理多少请求。",
        sg_upstreams: "Upstreams and models" / "上游与模型",
        sg_upstreams_hint: "Where requests go at Google, and which models are offered." / "请求发往 Google 的哪里，以及提供哪些模型。",
        sg_pool: "Credential pool" / "凭据池",
        sg_pool_hint: "Where credentials come from, rotation, retries and bans." / "凭据来源、轮换、重试和封禁。",
        sg_quotas: "Quotas" / "配额",
        sg_quotas_hint: "Daily limits per credential and when they reset." / "每个凭据的每日上限及重置时间。",
        sg_streaming: "Answers and streaming" / "回答与流式",
        sg_streaming_hint: "How answers are shaped and kept." / "回答的形式和保存方式。",
        sg_logs: "Logs and display" / "日志与显示",
        sg_logs_hint: "What is logged, for how long, and how the panel shows time." / "记录什么、保留多久，以及面板如何显示时间。",
        sg_network: "Network" / "网络",
        sg_network_hint: "Listening address, outbound proxy, timeouts and connection limits." / "监听地址、出站代理、超时和连接上限。",
        sg_other: "Other" / "其他",
        sg_other_hint: "Settings without a group yet." / "尚未分组的设置。",
        pw_panel: "Panel (PANEL_PASSWORD)" / "面板（PANEL_PASSWORD）",
        pw_api: "API key (API_PASSWORD)" / "API 密钥（API_PASSWORD）",
        pw_shared: "Shared fallback (PASSWORD)" / "共用后备（PASSWORD）",
        pw_set: "set" / "已设置",
        pw_not_set: "not set" / "未设置",
        pw_same: "The API key and the panel password are the same: every API client can open this panel and export credentials. Give them different values." / "API 密钥和面板密码相同：任何 API 客户端都能打开此面板并导出凭据。请设为不同的值。",
        pw_hint: "Passwords are stored only as argon2id hashes and never shown. Changing the panel or shared password signs everyone out." / "密码只以 argon2id 哈希保存，从不显示。修改面板密码或共用密码会让所有人退出登录。",
        pw_all_locked: "All passwords are set by the environment or the config file." / "所有密码都由环境变量或配置文件设置。",
        pw_which: "Password" / "密码",
        pw_locked: "(locked)" / "（已锁定）",
        pw_current_panel: "Current panel password" / "当前面板密码",
        pw_new: "New password" / "新密码",
        pw_again: "Again" / "再输一次",
        pw_change: "Change password" / "修改密码",
        pw_unknown_kind: "Unknown password kind." / "未知的密码类型。",
        pw_wrong_current: "The current panel password is wrong." / "当前面板密码错误。",
        pw_differ: "The two passwords differ." / "两次输入的密码不同。",
        pw_too_long: "That password is too long." / "密码太长。",
        pw_api_changed: "API password changed." / "API 密码已修改。",
        pw_changed: "Password changed." / "密码已修改。",

        // Logs.
        lg_level: "Level at least" / "最低级别",
        lg_search: "Search" / "搜索",
        lg_pause: "Pause" / "暂停",
        lg_resume: "Resume" / "继续",
        lg_held: "new lines held" / "条新日志暂存",
        lg_download: "Download view" / "下载当前视图",
        lg_follow: "Follow" / "跟随",
        lg_redacted: "Secrets are redacted before lines are recorded." / "日志记录前已隐去密钥等机密。",
        lg_unavailable: "Log capture is not enabled in this process." / "本进程没有启用日志捕获。",
        level_trace: "trace" / "跟踪",
        level_debug: "debug" / "调试",
        level_info: "info" / "信息",
        level_warn: "warn" / "警告",
        level_error: "error" / "错误",

        // Audit log.
        au_intro: "Every management change and sign-in: who, when, from where. Nothing is ever purged from it." / "每一次管理操作和登录：谁、何时、从哪里。记录永不清除。",
        au_action: "Action" / "操作",
        au_actor: "Actor" / "执行者",
        au_filter: "Filter" / "筛选",
        au_when: "When" / "时间",
        au_from: "From" / "来源",
        au_subject: "Subject" / "对象",
        au_detail: "Detail" / "详情",
        au_older: "Older events" / "更早的事件",
        // Credentials page: states, filters, sort, bulk actions (the creds branch).
        cred_st_all: "all" / "全部",
        cred_st_active: "active" / "可用",
        cred_st_cooling: "cooling" / "冷却中",
        cred_st_disabled: "disabled" / "已停用",
        cred_st_banned: "banned" / "已封禁",
        cred_st_needs_sign_in: "needs sign-in" / "需重新登录",
        cred_kind_code_assist: "Code Assist" / "Code Assist",
        cred_kind_gemini_api_key: "Gemini API key" / "Gemini API 密钥",
        cred_kind_vertex_service_account: "Vertex service account" / "Vertex 服务账号",
        cred_kind_vertex_express_key: "Vertex express key" / "Vertex 快速模式密钥",
        cred_err_any: "any error" / "有错误",
        cred_err_none: "no errors" / "无错误",
        cred_sort_id: "added" / "添加顺序",
        cred_sort_name: "name" / "名称",
        cred_sort_status: "state" / "状态",
        cred_sort_last_used: "last used" / "最近使用",
        cred_sort_errors: "errors" / "错误数",
        cred_sort_calls: "calls" / "调用次数",
        cred_filters: "Find credentials" / "查找凭据",
        cred_search: "Search" / "搜索",
        cred_search_hint: "name, e-mail, project, group or id" / "名称、邮箱、项目、配额组或 ID",
        cred_status: "Status" / "状态",
        cred_kind: "Kind" / "类型",
        cred_model: "Serves model" / "可用模型",
        cred_model_hint: "e.g. gemini-2.5-pro" / "例如 gemini-2.5-pro",
        cred_errors_filter: "Errors" / "错误",
        cred_sort: "Sort by" / "排序",
        cred_desc: "Descending" / "降序",
        cred_per: "Per page" / "每页",
        cred_apply: "Apply" / "应用",
        cred_select_page: "Select every credential on this page" / "选择本页全部凭据",
        cred_bulk_label: "Selected credentials" / "已选凭据",
        cred_bulk_enable: "Enable" / "启用",
        cred_bulk_disable: "Disable" / "停用",
        cred_bulk_delete: "Delete" / "删除",
        cred_bulk_recheck: "Re-check with Google" / "向 Google 重新检查",
        cred_bulk_export: "Export as ZIP" / "导出为 ZIP",
        cred_bulk_confirm: "Delete the selected credentials? This cannot be undone." / "删除所选凭据？此操作无法撤销。",
        cred_bulk_none: "Select at least one credential first." / "请先选择至少一个凭据。",
        cred_col_select: "Select" / "选择",
        cred_col_credential: "Credential" / "凭据",
        cred_col_status: "Status" / "状态",
        cred_col_cooldowns: "Cooldowns" / "冷却",
        cred_col_errors: "Errors" / "错误",
        cred_col_today: "Today (used/limit)" / "今日（已用/上限）",
        cred_col_in_flight: "In flight" / "进行中",
        cred_col_actions: "Actions" / "操作",
        cred_no_match: "No credentials match." / "没有匹配的凭据。",
        cred_prev: "Previous" / "上一页",
        cred_next: "Next" / "下一页",
        cred_sign_in_again: "Sign in again" / "重新登录",
        cred_sign_in_hint: "Google no longer accepts this sign-in: sign in again with the same account to restore it." / "Google 已不再接受此登录：请用同一账号重新登录以恢复。",
    }
    messages {
        cred_counts_total(n): "{n} credentials:" / "共 {n} 个凭据：",
        cred_select_row(name): "Select {name}" / "选择 {name}",
        cred_pager(page, pages, from, to, n): "Page {page} of {pages} (showing {from}–{to} of {n})" / "第 {page} / {pages} 页（显示第 {from}–{to} 个，共 {n} 个）",
        cred_bulk_enabled(n): "{n} credentials enabled" / "已启用 {n} 个凭据",
        cred_bulk_disabled(n): "{n} credentials disabled" / "已停用 {n} 个凭据",
        cred_bulk_deleted(n): "{n} credentials deleted" / "已删除 {n} 个凭据",
        cred_bulk_rechecked(ok, refused, unchecked): "Re-checked: {ok} work, {refused} refused, {unchecked} could not be checked" / "重新检查完成：{ok} 个可用，{refused} 个被拒绝，{unchecked} 个无法检查",
        page_title(page): "{page} · gcli2api" / "{page} · gcli2api",
        keys_limits(day, tokens, minute): "{day} / {tokens} / {minute}" / "每日 {day} / 令牌 {tokens} / 每分钟 {minute}",
        keys_bad_number(field): "'{field}' must be a whole number" / "“{field}”必须是整数",
        keys_name_taken(what): "{what} already exists" / "{what} 已存在",
        keys_created(name): "Key '{name}' created" / "已创建密钥“{name}”",
        keys_enabled(name): "Key '{name}' enabled" / "已启用密钥“{name}”",
        keys_saved(name): "Key '{name}' saved" / "已保存密钥“{name}”",
        cred_bulk_all_matching(n): "all {n} that match the filter, on every page" / "筛选匹配的全部 {n} 个（所有页）",
        keys_edit_title(name): "Edit key '{name}'" / "编辑密钥“{name}”",
        keys_disabled(name): "Key '{name}' disabled" / "已停用密钥“{name}”",
        usage_deleted_key(id): "deleted key #{id}" / "已删除的密钥 #{id}",
        keys_revoked(name): "Key '{name}' revoked" / "已吊销密钥“{name}”",
        rl_page(shown, total): "Showing {shown} of {total}" / "显示 {shown} 条，共 {total} 条",
        ch_summary(what, total): "{what}: {total} in total" / "{what}：共 {total}",
        ch_quota_summary(used, limit): "{used} of {limit}" / "已用 {used}，上限 {limit}",
        rl_deleted_cred(id): "#{id} (deleted)" / "#{id}（已删除）",
        ov_reset_at(at): "Daily quotas reset at {at}." / "每日配额在 {at} 重置。",
        // Follows ov_reset_at directly: English needs the space, Chinese does not.
        ov_reset_next(at, left): " Next reset: {at}, in {left}." / "下次重置：{at}，还有 {left}。",
        ov_key_in(env): "API password in {env}" / "API 密码放在 {env}",
        ov_copy_for(name): "Copy the setting for {name}" / "复制 {name} 的设置",
        cr_count(n): "{n} credentials:" / "共 {n} 个凭据：",
        cr_models(models): "models: {models}" / "模型：{models}",
        cr_streak(n): "{n} failures in a row" / "连续失败 {n} 次",
        cr_reset_at(at): "reset {at}" / "重置于 {at}",
        cr_delete_confirm(name): "Delete {name}? This cannot be undone." / "删除 {name}？此操作无法撤销。",
        cr_page(page, pages, from, to, total): "Page {page} of {pages} (showing {from}–{to} of {total})" / "第 {page}/{pages} 页（显示第 {from}–{to} 个，共 {total} 个）",
        cr_toast_enabled(name): "{name} enabled" / "{name} 已启用",
        cr_toast_disabled(name): "{name} disabled" / "{name} 已停用",
        cr_toast_unbanned(name): "{name} unbanned; errors and cooldowns cleared" / "{name} 已解封，错误和冷却已清除",
        cr_toast_identified(name): "{name} identified" / "{name} 已识别",
        cr_toast_identify_failed(msg): "Identify failed: {msg}" / "识别失败：{msg}",
        cr_toast_deleted(id): "Credential {id} deleted" / "凭据 {id} 已删除",
        cr_toast_group(name, group): "{name} is now in quota group {group}" / "{name} 现在属于配额组 {group}",
        cr_toast_own_group(name): "{name} is now a quota group of its own" / "{name} 现在自成一个配额组",
        cr_not_found(id): "Credential {id} not found." / "找不到凭据 {id}。",
        cr_no_action(action): "No action named {action}." / "没有名为 {action} 的操作。",
        up_imported(n): "{n} imported." / "已导入 {n} 个。",
        up_credential_id(id): "credential {id}" / "凭据 {id}",
        up_toast_imported(n): "{n} credential(s) imported" / "已导入 {n} 个凭据",
        up_unreadable(e): "Cannot read the upload: {e}" / "无法读取上传的内容：{e}",
        up_too_many(n): "At most {n} files per upload." / "每次最多上传 {n} 个文件。",
        up_too_large(n): "larger than the limit of {n} bytes" / "超过 {n} 字节的上限",
        up_toast_keys(n): "{n} key(s) added" / "已添加 {n} 个密钥",
        oa_step2(uri): "If this browser runs on the gateway's machine, Google sends it back to {uri} and the credential is added by itself." / "如果浏览器运行在网关所在的机器上，Google 会把它送回 {uri}，凭据会自动添加。",
        oa_added(name): "Credential {name} added." / "已添加凭据 {name}。",
        oa_updated(name): "Credential {name} updated: the account was already in the pool, its sign-in was renewed." / "已更新凭据 {name}：该账号已在池中，已更新其登录授权。",
        oa_toast_added(name): "Credential {name} added" / "已添加凭据 {name}",
        oa_toast_updated(name): "Credential {name} updated" / "已更新凭据 {name}",
        oa_project_is(project): "project {project}" / "项目 {project}",
        oa_failed(e): "Sign-in failed: {e}" / "登录失败：{e}",
        us_deleted(id): "#{id} (deleted)" / "#{id}（已删除）",
        se_not_saved(n): "Not saved: {n} problem(s), shown next to the fields." / "未保存：{n} 处问题，已在对应字段旁标出。",
        se_errors_below(n): "{n} value(s) need fixing; each is marked below." / "有 {n} 个值需要修改，已在下方逐一标出。",
        se_invalid(e): "Invalid value: {e}" / "值无效：{e}",
        se_needs_password(keys): "Changing {keys} needs the current panel password." / "修改 {keys} 需要当前面板密码。",
        se_in_effect(keys): "; in effect now: {keys}" / "；已立即生效：{keys}",
        se_after_restart(keys): "; after a restart: {keys}" / "；重启后生效：{keys}",
        se_locked_env(env): "locked by environment variable {env}" / "由环境变量 {env} 锁定",
        se_locked_other(origin): "locked by {origin}" / "由 {origin} 锁定",
        se_reset_done(env): "{env} is back to its default." / "{env} 已恢复默认值。",
        se_unknown(key): "No setting named {key}." / "没有名为 {key} 的设置。",
        login_throttled(secs): "Too many failed attempts from this address; try again in {secs} s." / "此地址失败次数过多，请 {secs} 秒后再试。",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Texts that are the same in both languages on purpose (names, codes, pure numbers).
    const SAME_ON_PURPOSE: &[&str] = &["brand_title", "page_title", "cred_kind_code_assist"];

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
