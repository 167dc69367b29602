//! Usage counters, daily quotas and per-credential limits.
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use super::auth::PanelAuth;
use super::error::{ApiError, Failure};
use crate::pool::CredId;
use crate::pool::view::QuotaView;
use crate::state::AppState;
use crate::usage::{AggregatedStats, CredentialUsage, LimitOverride, Totals, UsageError};

pub struct UsageApi;

#[derive(Object)]
struct ClassCallsView {
    pro: u64,
    flash: u64,
    other: u64,
}

/// One credential's counters since its last reset, plus today's allowance.
#[derive(Object)]
struct CredentialUsageView {
    credential_id: i64,
    calls: u64,
    successes: u64,
    failures: u64,
    /// successes / calls; null before the first call.
    success_rate: Option<f64>,
    by_class: ClassCallsView,
    /// Failed calls by outcome (`upstream_429`, `client_400`, `transport`, ...).
    errors: std::collections::BTreeMap<String, u64>,
    /// Remaining calls today and the next reset.
    today: QuotaView,
}

fn usage_view(id: CredId, u: &CredentialUsage) -> CredentialUsageView {
    CredentialUsageView {
        credential_id: id,
        calls: u.calls,
        successes: u.successes,
        failures: u.failures,
        success_rate: u.success_rate,
        by_class: ClassCallsView {
            pro: u.by_class.pro,
            flash: u.by_class.flash,
            other: u.by_class.other,
        },
        errors: u.errors.clone(),
        today: (&u.today).into(),
    }
}

#[derive(Object)]
struct TotalsView {
    /// Client requests (each counted once, however many upstream calls it took).
    requests: u64,
    request_successes: u64,
    request_failures: u64,
    request_success_rate: Option<f64>,
    /// Upstream calls.
    calls: u64,
    call_successes: u64,
    call_failures: u64,
    call_success_rate: Option<f64>,
    prompt_tokens: u64,
    completion_tokens: u64,
    reasoning_tokens: u64,
}

impl From<&Totals> for TotalsView {
    fn from(t: &Totals) -> Self {
        TotalsView {
            requests: t.requests,
            request_successes: t.request_successes,
            request_failures: t.request_failures,
            request_success_rate: t.request_success_rate,
            calls: t.calls,
            call_successes: t.call_successes,
            call_failures: t.call_failures,
            call_success_rate: t.call_success_rate,
            prompt_tokens: t.prompt_tokens,
            completion_tokens: t.completion_tokens,
            reasoning_tokens: t.reasoning_tokens,
        }
    }
}

#[derive(Object)]
struct DayView {
    /// Quota day, YYYY-MM-DD in the reset time zone.
    day: String,
    totals: TotalsView,
}

#[derive(Object)]
struct ModelView {
    model: String,
    totals: TotalsView,
}

#[derive(Object)]
struct KindPeriodView {
    kind: crate::pool::view::KindView,
    totals: TotalsView,
}

#[derive(Object)]
struct CredentialPeriodView {
    /// 0 collects requests no credential served.
    credential_id: i64,
    totals: TotalsView,
}

#[derive(Object)]
struct KeyPeriodView {
    /// 0 is the built-in `API_PASSWORD` key.
    key_id: i64,
    /// The key's name (`api-password` for the built-in key); absent for a deleted key.
    name: Option<String>,
    /// Requests and tokens; calls are counted per credential only.
    totals: TotalsView,
}

/// History over the last `days` quota days, today included, oldest first.
#[derive(Object)]
struct AggregatedView {
    days: u32,
    first_day: String,
    last_day: String,
    overall: TotalsView,
    per_day: Vec<DayView>,
    per_model: Vec<ModelView>,
    per_credential: Vec<CredentialPeriodView>,
    /// The credentials' totals by kind (credentials deleted since are left out).
    per_kind: Vec<KindPeriodView>,
    /// Requests by client key.
    per_key: Vec<KeyPeriodView>,
    next_reset: chrono::DateTime<chrono::Utc>,
}

impl From<&AggregatedStats> for AggregatedView {
    fn from(a: &AggregatedStats) -> Self {
        AggregatedView {
            days: a.days,
            first_day: a.first_day.clone(),
            last_day: a.last_day.clone(),
            overall: (&a.overall).into(),
            per_day: a
                .per_day
                .iter()
                .map(|d| DayView {
                    day: d.day.clone(),
                    totals: (&d.totals).into(),
                })
                .collect(),
            per_model: a
                .per_model
                .iter()
                .map(|m| ModelView {
                    model: m.model.clone(),
                    totals: (&m.totals).into(),
                })
                .collect(),
            per_credential: a
                .per_credential
                .iter()
                .map(|c| CredentialPeriodView {
                    credential_id: c.credential_id,
                    totals: (&c.totals).into(),
                })
                .collect(),
            per_kind: a
                .per_kind
                .iter()
                .map(|k| KindPeriodView {
                    kind: k.kind.into(),
                    totals: (&k.totals).into(),
                })
                .collect(),
            per_key: a
                .per_key
                .iter()
                .map(|k| KeyPeriodView {
                    key_id: k.key_id,
                    name: k.name.clone(),
                    totals: (&k.totals).into(),
                })
                .collect(),
            next_reset: a.next_reset,
        }
    }
}

/// A credential's own daily limits. Null follows the global default (DAILY_LIMIT_TOTAL /
/// DAILY_LIMIT_PRO); 0 means unlimited.
#[derive(Object)]
struct LimitsRequest {
    total: Option<u64>,
    pro: Option<u64>,
}

#[derive(ApiResponse)]
enum ListUsageResponse {
    /// Every credential, by id.
    #[oai(status = 200)]
    Ok(Json<Vec<CredentialUsageView>>),
}

#[derive(ApiResponse)]
enum GetCredentialUsageResponse {
    #[oai(status = 200)]
    Ok(Json<CredentialUsageView>),
    #[oai(status = 404)]
    NotFound(Json<ApiError>),
}

#[derive(ApiResponse)]
enum SetLimitsResponse {
    /// Saved; the credential's usage with the new limits.
    #[oai(status = 200)]
    Ok(Json<CredentialUsageView>),
    #[oai(status = 404)]
    NotFound(Json<ApiError>),
}

#[derive(ApiResponse)]
enum ResetUsageResponse {
    /// Counters and today's window zeroed (history is kept).
    #[oai(status = 204)]
    Reset,
    #[oai(status = 404)]
    NotFound(Json<ApiError>),
}

#[derive(ApiResponse)]
enum AggregatedUsageResponse {
    #[oai(status = 200)]
    Ok(Json<AggregatedView>),
}

fn not_found(id: CredId) -> Json<ApiError> {
    super::credentials::not_found(id)
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Usage")]
impl UsageApi {
    /// Counters and today's quota (remaining calls, next reset) of every credential.
    #[oai(path = "/usage", method = "get", operation_id = "list_usage")]
    async fn list(
        &self,
        _caller: PanelAuth,
        state: Data<&AppState>,
    ) -> Result<ListUsageResponse, Failure> {
        let mut ids: Vec<CredId> = state
            .pool
            .list()
            .await
            .map_err(|e| Failure::internal("cannot list credentials", &e))?
            .into_iter()
            .map(|r| r.id)
            .collect();
        ids.sort_unstable();
        let out = ids
            .into_iter()
            .map(|id| usage_view(id, &state.usage.credential_stats(id)))
            .collect();
        Ok(ListUsageResponse::Ok(Json(out)))
    }

    /// Totals per day, model and credential over the last `days` quota days (default 7).
    #[oai(
        path = "/usage/aggregated",
        method = "get",
        operation_id = "aggregated_usage"
    )]
    async fn aggregated(
        &self,
        _caller: PanelAuth,
        state: Data<&AppState>,
        #[oai(validator(minimum(value = "1"), maximum(value = "366")))] days: Query<Option<u32>>,
    ) -> Result<AggregatedUsageResponse, Failure> {
        let mut stats = state
            .usage
            .aggregated(days.0.unwrap_or(7))
            .await
            .map_err(|e| Failure::internal("cannot read usage", &e))?;
        crate::keys::name_usage(&state.keys, &mut stats);
        Ok(AggregatedUsageResponse::Ok(Json((&stats).into())))
    }

    /// Zero the counters and today's window of one credential (`credential_id`) or of all.
    #[oai(path = "/usage/reset", method = "post", operation_id = "reset_usage")]
    async fn reset(
        &self,
        _caller: PanelAuth,
        state: Data<&AppState>,
        credential_id: Query<Option<CredId>>,
    ) -> Result<ResetUsageResponse, Failure> {
        if let Some(id) = credential_id.0
            && state.pool.state(id).is_none()
        {
            return Ok(ResetUsageResponse::NotFound(not_found(id)));
        }
        state
            .usage
            .reset(credential_id.0)
            .await
            .map_err(|e| Failure::internal("cannot reset usage", &e))?;
        crate::security::audit::record(
            &state.store,
            "usage.reset",
            credential_id.0.map(|id| id.to_string()),
            serde_json::json!({ "scope": if credential_id.0.is_some() { "credential" } else { "all" } }),
        )
        .await;
        Ok(ResetUsageResponse::Reset)
    }

    /// One credential's counters and today's quota.
    #[oai(
        path = "/credentials/:id/usage",
        method = "get",
        operation_id = "get_credential_usage"
    )]
    async fn get(
        &self,
        _caller: PanelAuth,
        state: Data<&AppState>,
        id: Path<CredId>,
    ) -> Result<GetCredentialUsageResponse, Failure> {
        if state.pool.state(id.0).is_none() {
            return Ok(GetCredentialUsageResponse::NotFound(not_found(id.0)));
        }
        let u = state.usage.credential_stats(id.0);
        Ok(GetCredentialUsageResponse::Ok(Json(usage_view(id.0, &u))))
    }

    /// Set a credential's own daily limits (both at once).
    #[oai(
        path = "/credentials/:id/limits",
        method = "put",
        operation_id = "set_credential_limits"
    )]
    async fn set_limits(
        &self,
        _caller: PanelAuth,
        state: Data<&AppState>,
        id: Path<CredId>,
        body: Json<LimitsRequest>,
    ) -> Result<SetLimitsResponse, Failure> {
        let limits = LimitOverride {
            total: body.total,
            pro: body.pro,
        };
        match state.usage.set_limits(id.0, limits).await {
            Ok(()) => {
                crate::security::audit::record(
                    &state.store,
                    "credential.limits",
                    Some(id.0.to_string()),
                    serde_json::json!({ "total": body.total, "pro": body.pro }),
                )
                .await;
                let u = state.usage.credential_stats(id.0);
                Ok(SetLimitsResponse::Ok(Json(usage_view(id.0, &u))))
            }
            Err(UsageError::UnknownCredential(_)) => {
                Ok(SetLimitsResponse::NotFound(not_found(id.0)))
            }
            Err(e) => Err(Failure::internal("cannot save limits", &e)),
        }
    }
}
