//! What operators see of a credential: identity, health, counters and today's quota. The
//! management API returns it as JSON and the panel renders it as a table row, so both show
//! the same facts. Never the payload (it holds the refresh token, the access token and the
//! client secret), and upstream text is redacted.
//!
//! The types carry their OpenAPI schema: they are the API's JSON shape.
use poem_openapi::{Enum, Object};

use super::service::PoolService;
use super::{BanKind, CooldownReason, CredId, CredentialState};
use crate::google::kind::CredentialKind;
use crate::store::StoreError;
use crate::store::credentials::{CredentialRow, CredentialSource};
use crate::usage::{CredentialUsage, QuotaStatus, TodayQuota, UsageService};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum SourceView {
    Upload,
    Env,
    Oauth,
    Dir,
    Demo,
}

impl From<CredentialSource> for SourceView {
    fn from(s: CredentialSource) -> Self {
        match s {
            CredentialSource::Upload => SourceView::Upload,
            CredentialSource::Env => SourceView::Env,
            CredentialSource::Oauth => SourceView::Oauth,
            CredentialSource::Dir => SourceView::Dir,
            CredentialSource::Demo => SourceView::Demo,
        }
    }
}

/// Which Google upstream the credential speaks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum KindView {
    /// Gemini CLI / Code Assist OAuth.
    CodeAssist,
    /// An AI Studio key for the Gemini API.
    GeminiApiKey,
    /// A Vertex AI service-account key file.
    VertexServiceAccount,
    /// A Vertex AI express-mode key.
    VertexExpressKey,
}

impl From<CredentialKind> for KindView {
    fn from(k: CredentialKind) -> Self {
        match k {
            CredentialKind::CodeAssist => Self::CodeAssist,
            CredentialKind::GeminiApiKey => Self::GeminiApiKey,
            CredentialKind::VertexServiceAccount => Self::VertexServiceAccount,
            CredentialKind::VertexExpressKey => Self::VertexExpressKey,
        }
    }
}

impl From<KindView> for CredentialKind {
    fn from(k: KindView) -> Self {
        match k {
            KindView::CodeAssist => Self::CodeAssist,
            KindView::GeminiApiKey => Self::GeminiApiKey,
            KindView::VertexServiceAccount => Self::VertexServiceAccount,
            KindView::VertexExpressKey => Self::VertexExpressKey,
        }
    }
}

/// One word for the list view; the details are in the other fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum Status {
    /// Enabled, not banned, not cooling down for any model.
    Active,
    /// Usable, but cooling down for at least one model.
    Cooling,
    /// Switched off by a person.
    Disabled,
    /// Switched off by the gateway; see `ban`.
    Banned,
    /// Google revoked the refresh token (or the import had none): sign in again with OAuth
    /// (`POST /api/v1/oauth/start`); un-banning cannot help.
    NeedsSignIn,
}

impl From<super::Health> for Status {
    fn from(h: super::Health) -> Self {
        match h {
            super::Health::Active => Status::Active,
            super::Health::Cooling => Status::Cooling,
            super::Health::Disabled => Status::Disabled,
            super::Health::Banned => Status::Banned,
            super::Health::NeedsSignIn => Status::NeedsSignIn,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum BanKindView {
    /// A status in AUTO_BAN_ERROR_CODES with AUTO_BAN on.
    AutoBan,
    /// Google rejected the refresh token for good.
    RefreshRevoked,
    /// Imported without a refresh token.
    MissingRefreshToken,
    /// Project discovery says the account cannot use Code Assist yet (verification needed,
    /// ineligible tier, no project); `reason` and `link` say what to do.
    Ineligible,
    /// Google refused the key or service account itself (invalid, expired, leaked,
    /// suspended, a standard key, an API blocked or disabled for it); `reason` says what to do.
    Rejected,
}

#[derive(Object)]
pub struct BanView {
    pub kind: BanKindView,
    /// The upstream status that caused it.
    pub status: Option<u16>,
    /// The upstream's own words.
    pub reason: String,
    /// Where the account owner can fix it.
    pub link: Option<String>,
    pub at: chrono::DateTime<chrono::Utc>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum CooldownReasonView {
    RateLimited,
    QuotaExhausted,
    Probing,
    /// A per-day quota is spent until Google's daily reset (midnight Pacific).
    DailyExhausted,
    /// The upstream answered 5xx / overloaded: a short rest.
    Overloaded,
}

#[derive(Object)]
pub struct CooldownView {
    /// Base model name.
    pub model: String,
    pub until: chrono::DateTime<chrono::Utc>,
    pub reason: CooldownReasonView,
    /// Google's own reset time when it lies beyond the cooldown cap.
    pub reset_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The next request for this model probes whether the quota is back.
    pub probe_pending: bool,
}

#[derive(Object)]
pub struct ErrorView {
    /// Upstream HTTP status.
    pub status: u16,
    pub count: u64,
    /// The upstream's last message for this status (shortened, redacted).
    pub last_message: String,
    pub last_at: chrono::DateTime<chrono::Utc>,
}

/// Today's use of one daily allowance.
#[derive(Object)]
pub struct AllowanceView {
    pub used: u64,
    /// Null = unlimited.
    pub limit: Option<u64>,
    /// Null = unlimited.
    pub remaining: Option<u64>,
    /// The limit is this credential's own, not the global default.
    pub overridden: bool,
    pub exhausted: bool,
}

impl From<&QuotaStatus> for AllowanceView {
    fn from(q: &QuotaStatus) -> Self {
        AllowanceView {
            used: q.used,
            limit: q.limit,
            remaining: q.remaining,
            overridden: q.overridden,
            exhausted: q.exhausted(),
        }
    }
}

/// The current daily window (QUOTA_RESET_HOUR in QUOTA_RESET_TIMEZONE).
#[derive(Object)]
pub struct QuotaView {
    pub window_start: chrono::DateTime<chrono::Utc>,
    /// When `used` goes back to zero.
    pub next_reset: chrono::DateTime<chrono::Utc>,
    /// Every upstream call counts.
    pub total: AllowanceView,
    /// Only pro-model calls count.
    pub pro: AllowanceView,
}

impl From<&TodayQuota> for QuotaView {
    fn from(t: &TodayQuota) -> Self {
        QuotaView {
            window_start: t.window_start,
            next_reset: t.next_reset,
            total: (&t.total).into(),
            pro: (&t.pro).into(),
        }
    }
}

#[derive(Object)]
pub struct RecheckView {
    pub at: chrono::DateTime<chrono::Utc>,
    pub message: String,
}

#[derive(Object)]
pub struct Credential {
    pub id: i64,
    pub name: String,
    pub source: SourceView,
    pub kind: KindView,
    /// The Google project the credential's quota belongs to, as the operator named it: keys
    /// of one group share cooldowns and daily exhaustion. Null: a group of its own.
    pub quota_group: Option<String>,
    /// Models the credential was found to serve (a Gemini API key's model list). Null: not
    /// discovered; the kind's default list applies.
    pub models: Option<Vec<String>>,
    /// When `models` was last discovered.
    pub models_checked_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The service-account e-mail, or the Code Assist account's.
    pub email: Option<String>,
    pub project_id: Option<String>,
    pub tier: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub status: Status,
    /// The manual switch (a ban is separate).
    pub enabled: bool,
    pub ban: Option<BanView>,
    /// Live cooldowns only.
    pub cooldowns: Vec<CooldownView>,
    /// Models that answered 404 through this credential (preview models the account lacks).
    pub unable_models: Vec<String>,
    /// History per upstream status, cleared by `unban`.
    pub errors: Vec<ErrorView>,
    /// Failures since the last success.
    pub error_streak: u32,
    pub calls: u64,
    pub successes: u64,
    pub failures: u64,
    pub last_success: Option<chrono::DateTime<chrono::Utc>>,
    pub last_used: Option<chrono::DateTime<chrono::Utc>>,
    pub preview: bool,
    /// Upstream calls running through it right now.
    pub in_flight: u32,
    /// What the last periodic re-check found (keys and service accounts).
    pub recheck: Option<RecheckView>,
    /// Today's allowance: remaining calls and the next reset.
    pub quota: QuotaView,
}

impl PoolService {
    /// Every credential as operators see it, or only those of `kind`.
    pub async fn views(
        &self,
        usage: &UsageService,
        kind: Option<CredentialKind>,
    ) -> Result<Vec<Credential>, StoreError> {
        let rows = self.list().await?;
        Ok(rows
            .iter()
            .filter(|row| kind.is_none_or(|k| row.kind == k))
            .map(|row| self.view_of(row, usage))
            .collect())
    }

    /// One credential as operators see it; `None` when it does not exist.
    pub async fn view(
        &self,
        id: CredId,
        usage: &UsageService,
    ) -> Result<Option<Credential>, StoreError> {
        Ok(self.get(id).await?.map(|row| self.view_of(&row, usage)))
    }

    pub(crate) fn view_of(&self, row: &CredentialRow, usage: &UsageService) -> Credential {
        credential(
            row,
            self.state(row.id).unwrap_or_default(),
            self.in_flight(row.id).unwrap_or(0),
            &usage.credential_stats(row.id),
        )
    }
}

/// The view of `row` with its live pool state, in-flight count and usage.
pub fn credential(
    row: &CredentialRow,
    state: CredentialState,
    in_flight: u32,
    usage: &CredentialUsage,
) -> Credential {
    let now = chrono::Utc::now();
    let cooldowns: Vec<CooldownView> = state
        .cooldowns
        .iter()
        .filter(|(_, c)| c.is_live(now))
        .map(|(model, c)| CooldownView {
            model: model.clone(),
            until: c.until,
            reason: match c.reason {
                CooldownReason::RateLimited => CooldownReasonView::RateLimited,
                CooldownReason::QuotaExhausted => CooldownReasonView::QuotaExhausted,
                CooldownReason::Probing => CooldownReasonView::Probing,
                CooldownReason::DailyExhausted => CooldownReasonView::DailyExhausted,
                CooldownReason::Overloaded => CooldownReasonView::Overloaded,
            },
            reset_at: c.reset_at,
            probe_pending: c.probe_pending,
        })
        .collect();
    let status = state.health(now).into();
    let created_at = chrono::DateTime::from_timestamp_millis(row.created_at)
        .unwrap_or(chrono::DateTime::UNIX_EPOCH);
    Credential {
        id: row.id,
        name: row.name.clone(),
        source: row.source.into(),
        kind: row.kind.into(),
        quota_group: row.quota_group.clone(),
        models: row.models.clone(),
        models_checked_at: row
            .models_checked_at
            .and_then(chrono::DateTime::from_timestamp_millis),
        email: state.email.clone().or_else(|| row.email.clone()),
        project_id: state.project_id.clone().or_else(|| row.project_id.clone()),
        tier: state.tier.clone().or_else(|| row.tier.clone()),
        created_at,
        status,
        enabled: state.enabled,
        ban: state.ban.as_ref().map(|b| BanView {
            kind: match b.kind {
                BanKind::AutoBan => BanKindView::AutoBan,
                BanKind::RefreshRevoked => BanKindView::RefreshRevoked,
                BanKind::MissingRefreshToken => BanKindView::MissingRefreshToken,
                BanKind::Ineligible => BanKindView::Ineligible,
                BanKind::Rejected => BanKindView::Rejected,
            },
            status: b.status,
            reason: crate::logs::redact(&b.reason).into_owned(),
            link: b.link.clone(),
            at: b.at,
        }),
        cooldowns,
        unable_models: state.unable_models.iter().cloned().collect(),
        errors: state
            .errors
            .iter()
            .map(|(status, e)| ErrorView {
                status: *status,
                count: e.count,
                // Upstream bodies are Google's words, but redaction is cheap insurance.
                last_message: crate::logs::redact(&e.last_message).into_owned(),
                last_at: e.last_at,
            })
            .collect(),
        error_streak: state.error_streak,
        calls: state.calls,
        successes: state.successes,
        failures: state.failures,
        last_success: state.last_success,
        last_used: state.last_used,
        preview: state.preview,
        in_flight,
        recheck: state.recheck.as_ref().map(|r| RecheckView {
            at: r.at,
            message: crate::logs::redact(&r.message).into_owned(),
        }),
        quota: (&usage.today).into(),
    }
}
