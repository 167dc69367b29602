//! One credential as a table row: the pool's credential view, the same the management API
//! returns (no payload, redacted upstream text), flattened into display strings.
use crate::pool::CredId;
use crate::pool::view::{self, BanKindView, CooldownReasonView, Credential, Status};
use crate::state::AppState;

use super::super::i18n::Tr;
use super::super::web::PanelError;

pub struct RowView {
    pub id: CredId,
    pub name: String,
    pub email: String,
    pub project: String,
    pub source: &'static str,
    /// The filter value (`gemini_api_key`).
    pub kind: &'static str,
    pub group: String,
    /// Discovered models, comma separated (empty when not discovered).
    pub models: String,
    /// What the last re-check found (empty when none ran).
    pub recheck: String,
    pub status: &'static str,
    pub enabled: bool,
    pub banned: bool,
    pub ban: Option<BanText>,
    pub cooldowns: Vec<CooldownText>,
    pub errors: Vec<ErrorText>,
    pub error_streak: u32,
    pub total: String,
    pub pro: String,
    pub next_reset: String,
    /// The reset in words, in the reader's zone.
    pub next_reset_text: String,
    pub in_flight: u32,
}

pub struct BanText {
    pub kind: &'static str,
    pub status: Option<u16>,
    pub reason: String,
    /// Only http(s) links become `href`s.
    pub link: Option<String>,
}

pub struct CooldownText {
    pub model: String,
    /// RFC 3339, for `<time datetime>` and the countdown script.
    pub until: String,
    pub until_text: String,
    pub reason: &'static str,
}

pub struct ErrorText {
    pub status: u16,
    pub count: u64,
    pub last_message: String,
}

pub fn status_word(s: Status) -> &'static str {
    match s {
        Status::Active => "active",
        Status::Cooling => "cooling",
        Status::Disabled => "disabled",
        Status::Banned => "banned",
        Status::NeedsSignIn => "needs_sign_in",
    }
}

fn allowance(tr: &Tr, a: &view::AllowanceView) -> String {
    match a.limit {
        Some(l) => format!("{}/{}", tr.num(a.used), tr.num(l)),
        None => format!("{}/∞", tr.num(a.used)),
    }
}

fn safe_link(link: Option<String>) -> Option<String> {
    link.filter(|l| url::Url::parse(l).is_ok_and(|u| matches!(u.scheme(), "http" | "https")))
}

impl From<Credential> for RowView {
    fn from(c: Credential) -> Self {
        let tr = Tr::current();
        RowView {
            id: c.id,
            name: c.name,
            email: c.email.unwrap_or_default(),
            project: c.project_id.unwrap_or_default(),
            source: match c.source {
                view::SourceView::Upload => tr.src_upload(),
                view::SourceView::Env => tr.src_env(),
                view::SourceView::Oauth => tr.src_oauth(),
                view::SourceView::Dir => tr.src_dir(),
                view::SourceView::Demo => tr.src_demo(),
            },
            kind: crate::google::kind::CredentialKind::from(c.kind).as_str(),
            group: c.quota_group.unwrap_or_default(),
            models: c.models.map(|m| m.join(", ")).unwrap_or_default(),
            recheck: c
                .recheck
                .map(|r| format!("{} ({})", r.message, tr.datetime(r.at)))
                .unwrap_or_default(),
            status: status_word(c.status),
            enabled: c.enabled,
            banned: c.ban.is_some(),
            ban: c.ban.map(|b| BanText {
                kind: match b.kind {
                    BanKindView::AutoBan => tr.ban_auto(),
                    BanKindView::RefreshRevoked => tr.ban_revoked(),
                    BanKindView::MissingRefreshToken => tr.ban_no_refresh(),
                    BanKindView::Ineligible => tr.ban_ineligible(),
                    BanKindView::Rejected => tr.ban_rejected(),
                },
                status: b.status,
                reason: b.reason,
                link: safe_link(b.link),
            }),
            cooldowns: c
                .cooldowns
                .into_iter()
                .map(|cd| CooldownText {
                    model: cd.model,
                    until: cd.until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    until_text: tr.datetime(cd.until),
                    reason: match cd.reason {
                        CooldownReasonView::RateLimited => tr.cd_rate_limited(),
                        CooldownReasonView::QuotaExhausted => tr.cd_quota(),
                        CooldownReasonView::Probing => tr.cd_probing(),
                        CooldownReasonView::DailyExhausted => tr.cd_daily(),
                        CooldownReasonView::Overloaded => tr.cd_overloaded(),
                    },
                })
                .collect(),
            errors: c
                .errors
                .into_iter()
                .map(|e| ErrorText {
                    status: e.status,
                    count: e.count,
                    last_message: e.last_message,
                })
                .collect(),
            error_streak: c.error_streak,
            total: allowance(&tr, &c.quota.total),
            pro: allowance(&tr, &c.quota.pro),
            next_reset_text: tr.datetime(c.quota.next_reset),
            next_reset: c
                .quota
                .next_reset
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            in_flight: c.in_flight,
        }
    }
}

pub async fn one(state: &AppState, id: CredId) -> Result<Option<Credential>, PanelError> {
    state
        .pool
        .view(id, &state.usage)
        .await
        .map_err(|e| PanelError::internal("cannot read the credential", e))
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_web_links_are_kept() {
        assert!(super::safe_link(Some("https://accounts.google.com/x".into())).is_some());
        assert!(super::safe_link(Some("javascript:alert(1)".into())).is_none());
        assert!(super::safe_link(Some("data:text/html,x".into())).is_none());
    }
}
