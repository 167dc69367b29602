//! The settings page's own catalogue: which group each setting belongs to, and each setting's
//! description in Chinese (the English one is the registry's, which also feeds the README).
//! A test fails when a setting in the registry has no Chinese description here.
use super::i18n::{Lang, Tr};

/// The groups of the settings page, in order.
pub const GROUPS: [&str; 8] = [
    "access",
    "upstreams",
    "pool",
    "quotas",
    "streaming",
    "logs",
    "network",
    "other",
];

/// The group a setting is shown in; a setting added later without a group lands in "other".
pub fn group_of(key: &str) -> &'static str {
    match key {
        "password"
        | "api_password"
        | "panel_password"
        | "oauth_callback_port"
        | "max_concurrent_requests"
        | "max_queue_wait"
        | "max_body_bytes" => "access",
        "code_assist_endpoint"
        | "oauth_proxy_url"
        | "googleapis_proxy_url"
        | "resource_manager_api_url"
        | "service_usage_api_url"
        | "metadata_service_url"
        | "oauth_auth_url"
        | "gemini_api_url"
        | "vertex_location"
        | "vertex_api_url"
        | "vertex_models"
        | "base_models"
        | "model_aliases"
        | "keepalive_url"
        | "keepalive_interval" => "upstreams",
        "data_dir"
        | "credentials_dir"
        | "auto_load_env_creds"
        | "calls_per_rotation"
        | "retry_429_enabled"
        | "retry_429_max_retries"
        | "retry_429_interval"
        | "auto_ban"
        | "auto_ban_error_codes"
        | "cooldown_cap"
        | "key_recheck_interval" => "pool",
        "quota_reset_timezone"
        | "quota_reset_hour"
        | "daily_limit_total"
        | "daily_limit_pro"
        | "aistudio_daily_limit_total"
        | "aistudio_daily_limit_pro"
        | "vertex_daily_limit_total"
        | "vertex_daily_limit_pro" => "quotas",
        "anti_truncation_max_attempts"
        | "compatibility_mode"
        | "return_thoughts"
        | "responses_store_days"
        | "responses_store_max_mb" => "streaming",
        "log_level"
        | "log_file"
        | "log_retention_days"
        | "log_file_max_mb"
        | "access_log"
        | "metrics_token"
        | "metrics_listen"
        | "metrics_credential_labels_max"
        | "request_log"
        | "request_log_days"
        | "request_log_max_rows"
        | "request_log_prompts"
        | "panel_timezone" => "logs",
        "host"
        | "port"
        | "proxy"
        | "connect_timeout"
        | "read_timeout"
        | "header_read_timeout"
        | "idle_timeout"
        | "body_read_timeout"
        | "max_connections"
        | "max_connections_per_address"
        | "trusted_proxies"
        | "remote_fetch_enabled"
        | "remote_fetch_max_bytes"
        | "remote_fetch_timeout"
        | "remote_fetch_allowlist" => "network",
        _ => "other",
    }
}

impl Tr {
    /// A group's title and what it is for.
    pub fn group_title(&self, group: &str) -> (&'static str, &'static str) {
        match group {
            "access" => (self.sg_access(), self.sg_access_hint()),
            "upstreams" => (self.sg_upstreams(), self.sg_upstreams_hint()),
            "pool" => (self.sg_pool(), self.sg_pool_hint()),
            "quotas" => (self.sg_quotas(), self.sg_quotas_hint()),
            "streaming" => (self.sg_streaming(), self.sg_streaming_hint()),
            "logs" => (self.sg_logs(), self.sg_logs_hint()),
            "network" => (self.sg_network(), self.sg_network_hint()),
            _ => (self.sg_other(), self.sg_other_hint()),
        }
    }

    /// A setting's description in the reader's language (English from the registry).
    pub fn setting_description(&self, key: &str, english: &'static str) -> &'static str {
        match self.lang {
            Lang::En => english,
            Lang::Zh => description_zh(key).unwrap_or(english),
        }
    }
}

/// A validation message from `settings::validate` in Chinese. Those messages are English text
/// shared with the management API; the panel translates them here by their exact wording (a
/// unit test reads them from the validator's source, so a new one without a translation fails).
pub fn validation_zh(msg: &str) -> Option<String> {
    if let Some(range) = msg
        .strip_prefix("must be between ")
        .and_then(|r| r.split_once(" and "))
    {
        return Some(format!("必须在 {} 到 {} 之间", range.0, range.1));
    }
    Some(
        match msg {
            "must be a URL" => "必须是 URL",
            "must be empty or an ip:port address such as 127.0.0.1:9464" => {
                "必须留空，或是 127.0.0.1:9464 这样的 ip:端口 地址"
            }
            "must be a base URL without query or fragment" => "必须是不带查询参数或片段的基础地址",
            "must be a comma list of HTTP status codes between 400 and 599" => {
                "必须是逗号分隔的 HTTP 状态码（400 到 599）"
            }
            "must be a comma list of IP addresses or CIDR ranges" => {
                "必须是逗号分隔的 IP 地址或 CIDR 范围"
            }
            "must be a comma list of host names, IP addresses or CIDR ranges" => {
                "必须是逗号分隔的主机名、IP 地址或 CIDR 范围"
            }
            "must be a comma list of non-empty names" => "必须是逗号分隔的非空名称",
            "must be a comma list of pattern=target pairs" => "必须是逗号分隔的 pattern=target 对",
            "must be a list" => "必须是列表",
            "must be a location such as global, us, eu or europe-west4" => {
                "必须是 global、us、eu 或 europe-west4 这样的位置"
            }
            "must be a number" => "必须是数字",
            "must be a path" => "必须是路径",
            "must be a string" => "必须是字符串",
            "must be a whole number" => "必须是整数",
            "must be an IANA time zone such as UTC or America/Los_Angeles" => {
                "必须是 IANA 时区，例如 UTC 或 America/Los_Angeles"
            }
            "must be an http(s) URL with a host" => "必须是带主机的 http(s) 地址",
            "must be an http(s) URL" => "必须是 http(s) 地址",
            "must be an https URL (plain http only to 127.0.0.1, [::1] or localhost)" => {
                "必须是 https 地址（明文 http 只允许 127.0.0.1、[::1] 或 localhost）"
            }
            "must be empty or an IANA time zone such as Asia/Shanghai" => {
                "必须为空或 IANA 时区，例如 Asia/Shanghai"
            }
            "must be one of trace, debug, info, warn, error" => {
                "必须是 trace、debug、info、warn、error 之一"
            }
            "must be true or false" => "必须是 true 或 false",
            "must be true/false (also 1/0, yes/no, on/off)" => {
                "必须是 true/false（也可以是 1/0、yes/no、on/off）"
            }
            "must include a host" => "必须包含主机",
            "must list at least one name" => "至少要列出一个名称",
            "must not be empty" => "不能为空",
            "scheme must be http, https, socks5 or socks5h" => {
                "协议必须是 http、https、socks5 或 socks5h"
            }
            _ => return None,
        }
        .to_string(),
    )
}

impl Tr {
    /// A validation message in the reader's language (English when it has no translation).
    pub fn validation(&self, msg: &str) -> String {
        match self.lang {
            Lang::En => msg.to_string(),
            Lang::Zh => validation_zh(msg).unwrap_or_else(|| msg.to_string()),
        }
    }
}

pub fn description_zh(key: &str) -> Option<&'static str> {
    Some(match key {
        "host" => "监听的地址。",
        "port" => "监听的端口。",
        "data_dir" => {
            "数据库、日志和默认配置文件所在的目录（只能由环境变量或 --config 文件设置）。"
        }
        "credentials_dir" => "启动时导入其中凭据 JSON 文件的文件夹。",
        "password" => "共用密码：未设置专用密码时，既是 API 密钥也是面板密码。",
        "api_password" => "代理接口的 API 密钥（未设置时使用 PASSWORD）。",
        "panel_password" => "面板密码（未设置时使用 PASSWORD）。",
        "calls_per_rotation" => "一个凭据连续处理多少个请求后轮换到下一个。",
        "retry_429_enabled" => "遇到限流或可重试的上游错误时，换一个凭据重试。",
        "retry_429_max_retries" => "首次尝试之后的重试次数。",
        "retry_429_interval" => "两次重试之间等待的秒数。",
        "anti_truncation_max_attempts" => "防截断模型的续写尝试次数。",
        "auto_ban" => "上游返回 AUTO_BAN_ERROR_CODES 中的状态码时停用该凭据。",
        "auto_ban_error_codes" => "会封禁凭据的 HTTP 状态码（400-599），逗号分隔。",
        "auto_load_env_creds" => "启动时导入 GCLI_CREDS_* 环境变量中的凭据。",
        "compatibility_mode" => "为需要的客户端把 system 消息作为 user 消息发送。",
        "metrics_token" => {
            "GET /metrics 的 Bearer 令牌。在主端口上只有设置了它才提供 /metrics；在 METRICS_LISTEN 上设置后即为必需。"
        }
        "metrics_listen" => {
            "单独的 ip:端口，只提供 GET /metrics（例如 127.0.0.1:9464），供私有网络中的抓取器使用。留空：不启用。"
        }
        "metrics_credential_labels_max" => {
            "凭据池不超过此数量时，每个凭据的指标序列（已用和剩余配额）带账号名；超过后按类型汇总，使标签集合保持有限。"
        }
        "access_log" => {
            "每个代理请求记录一行 INFO 日志（接口、模型、凭据、状态、耗时、token 数、客户端地址）。"
        }
        "request_log" => {
            "每个代理请求保存一行（时间、接口、模型、凭据、状态、耗时、token 数、错误原因），供面板的请求日志使用；在后台分批写入。"
        }
        "request_log_days" => {
            "请求日志保留的天数（0：不按天数清理，只受 REQUEST_LOG_MAX_ROWS 限制）。"
        }
        "request_log_max_rows" => "请求日志最多保留的行数（最旧的先在后台清除）。",
        "request_log_prompts" => {
            "隐私：同时在请求日志中保存每个请求提示文本的前 1,000 个字符，并在面板中显示。默认关闭；提示中可能含有个人或机密数据。"
        }
        "return_thoughts" => {
            "把模型的思考内容返回给客户端（旧环境变量：RETURN_THOUGHTS_TO_FRONTEND）。"
        }
        "proxy" => "出站代理：留空，或 http://、https://、socks5:// 地址。",
        "code_assist_endpoint" => "Code Assist API 的基础地址。",
        "oauth_proxy_url" => "OAuth 令牌服务器的基础地址（会追加 /token）。",
        "googleapis_proxy_url" => "Google APIs 的基础地址（用户信息）。",
        "resource_manager_api_url" => "Cloud Resource Manager 的基础地址（列出项目）。",
        "service_usage_api_url" => "Service Usage 的基础地址（启用 API）。",
        "metadata_service_url" => "Cloud AI Companion 的基础地址（发布渠道设置）。",
        "oauth_auth_url" => "浏览器授权用的 Google 授权页面。",
        "gemini_api_url" => "Gemini API 的基础地址（AI Studio 密钥）。",
        "vertex_location" => {
            "服务账号调用 Vertex AI 的位置：`global`（最新模型所在）、`us`、`eu` 或 `europe-west4` 这样的区域。"
        }
        "vertex_api_url" => {
            "Vertex AI 的基础地址（留空：由 VERTEX_LOCATION 推出；快速密钥使用全局主机）。"
        }
        "vertex_models" => {
            "Vertex 凭据（服务账号和快速密钥）提供的模型，逗号分隔；其他模型的请求不会发给它们。"
        }
        "log_level" => "trace、debug、info、warn 或 error。",
        "log_file" => "日志文件（每天轮转）。",
        "log_retention_days" => "保留轮转日志文件的天数。",
        "log_file_max_mb" => {
            "单日日志文件的最大兆字节数；超过后当天其余的行不再写入文件（0 = 不限）。日志最多约占 LOG_RETENTION_DAYS 乘以此值。"
        }
        "quota_reset_timezone" => "每日配额重置所用的 IANA 时区。",
        "panel_timezone" => {
            "面板显示时间所用的 IANA 时区；留空 = 各浏览器自己的时区。只影响显示：配额重置仍按 QUOTA_RESET_TIMEZONE。"
        }
        "quota_reset_hour" => "每日配额重置的整点（按 QUOTA_RESET_TIMEZONE）。",
        "connect_timeout" => "建立上游连接的秒数上限。",
        "read_timeout" => "上游多少秒没有数据（流式时为两次读取的间隔）后放弃。",
        "max_concurrent_requests" => {
            "同时处理的代理请求数，更多的请求排队等待。0：按打开文件数上限（每个请求两个描述符，64 到 10,000），因为保持一个流几乎没有其他开销。"
        }
        "max_queue_wait" => "请求等待空闲名额的秒数上限，超时返回 503。",
        "base_models" => "提供的基础模型，逗号分隔（变体自动派生）。",
        "model_aliases" => {
            "`pattern=target` 形式的模型别名，逗号分隔，先匹配者生效；模式可以以 `*` 结尾。作用于去掉前后缀后的基础名，使客户端的默认名（`claude-*`、`gpt-5*`）可用。留空：无。"
        }
        "max_body_bytes" => "接受的最大请求体字节数。",
        "daily_limit_total" => "每个 Code Assist 凭据默认的每日请求上限（0 = 不限）。",
        "daily_limit_pro" => "每个 Code Assist 凭据默认的 pro 模型每日上限（0 = 不限）。",
        "aistudio_daily_limit_total" => {
            "每个 Gemini API 密钥默认的每日请求上限（0 = 关闭：由 Google 自己限额）。"
        }
        "aistudio_daily_limit_pro" => "每个 Gemini API 密钥默认的 pro 模型每日上限（0 = 关闭）。",
        "vertex_daily_limit_total" => {
            "每个 Vertex 服务账号或快速密钥默认的每日请求上限（0 = 关闭）。"
        }
        "vertex_daily_limit_pro" => "每个 Vertex 凭据默认的 pro 模型每日上限（0 = 关闭）。",
        "cooldown_cap" => "冷却的最长秒数，之后放行一个探测请求。",
        "key_recheck_interval" => {
            "重新检查被 Google 拒绝的密钥和服务账号（恢复可用后放回）以及当天额度用尽的模型（一个 token 的探测）的间隔秒数；0 = 从不。"
        }
        "keepalive_url" => {
            "每隔 KEEPALIVE_INTERVAL 秒用 GET 访问的地址，用来让免费主机保持唤醒，例如本网关公开的 `/healthz`（留空 = 关闭）。"
        }
        "keepalive_interval" => "两次保活请求之间的秒数。",
        "oauth_callback_port" => "本机 OAuth 回调监听的端口。",
        "remote_fetch_enabled" => {
            "获取请求中的 http(s) 图片和文档地址并内联发送（关闭：这类地址以 400 拒绝）。"
        }
        "remote_fetch_max_bytes" => {
            "从一个地址获取的最大文件字节数（一个请求的所有文件合计：MAX_BODY_BYTES）。"
        }
        "remote_fetch_timeout" => "一次地址获取的总秒数上限，包括重定向和内容。",
        "remote_fetch_allowlist" => {
            "允许获取的私有、回环或链路本地的主机名、IP 和 CIDR 范围，逗号分隔（留空：只允许公网地址）。"
        }
        "responses_store_days" => {
            "以 store: true 发送的 Responses API 回答保留的天数，供 previous_response_id 和 GET /v1/responses/{id} 使用（0：不保存，并删除已保存的）。"
        }
        "responses_store_max_mb" => {
            "数据库中保留的 Responses API 回答的兆字节数（先删最旧的）；内存中最多保留 64 个。"
        }
        "trusted_proxies" => {
            "网关前面的反向代理的 IP 地址和 CIDR 范围，逗号分隔。只有来自列表中的对端时，才从 `Forwarded` / `X-Forwarded-For`（从右往左，跳过可信的跳）读取客户端地址；失败次数限制、连接上限和日志都用这个地址。留空：套接字的对端。"
        }
        "header_read_timeout" => {
            "客户端发送请求头的秒数上限，从连接打开（第一个请求）或第一个字节（后续请求）算起；更慢的连接会被关闭。"
        }
        "idle_timeout" => {
            "保持的连接等待下一个请求的秒数上限，超时关闭。进行中的请求（包括流）不会被它打断。"
        }
        "body_read_timeout" => {
            "请求头到达后，客户端发送完整请求体的秒数上限；更慢的上传失败并关闭连接。"
        }
        "max_connections" => {
            "同时打开的客户端连接数上限；超出的连接一接受就关闭（0 = 进程打开文件数上限的一半，为上游连接留出余地）。"
        }
        "max_connections_per_address" => {
            "同一客户端地址同时打开的连接数上限；超出的连接一接受就关闭。TRUSTED_PROXIES 中的对端只受 MAX_CONNECTIONS 限制。"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_validation_message_has_a_chinese_text() {
        let source = include_str!("../settings/validate.rs");
        let mut seen = 0;
        for lit in source.split('"').skip(1).step_by(2) {
            if !(lit.starts_with("must ") || lit.starts_with("scheme must")) {
                continue;
            }
            seen += 1;
            let msg = lit.replace("{min}", "1").replace("{max}", "9");
            assert!(
                validation_zh(&msg).is_some(),
                "no Chinese for the validation message {lit:?} in src/panel/setting_texts.rs"
            );
        }
        assert!(
            seen >= 20,
            "only {seen} messages found: did validate.rs move?"
        );
        assert_eq!(
            validation_zh("must be between 0 and 23").as_deref(),
            Some("必须在 0 到 23 之间")
        );
    }

    #[test]
    fn every_setting_has_a_chinese_description_and_a_known_group() {
        let mut missing = Vec::new();
        for d in crate::settings::registry() {
            match description_zh(d.key) {
                Some(t) if !t.trim().is_empty() => {}
                _ => missing.push(d.key),
            }
            assert!(GROUPS.contains(&group_of(d.key)));
        }
        assert!(
            missing.is_empty(),
            "settings without a Chinese description in src/panel/setting_texts.rs: {missing:?}"
        );
    }
}
