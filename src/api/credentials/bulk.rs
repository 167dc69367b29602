//! The credential list at scale: one page with search, filters and sort, and actions on many
//! credentials at once. The panel calls the same service functions (`PoolService::query`,
//! `PoolService::bulk`).
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};

use super::ApiTags;
use super::transfer::content_disposition;
use crate::api::auth::PanelAuth;
use crate::api::error::{ApiError, ErrorCode, Failure};
use crate::pool::CredId;
use crate::pool::bulk::{BulkAction, BulkError, BulkOutcome};
use crate::pool::service::{CredentialQuery, ErrorFilter, SortKey};
use crate::pool::view::{Credential, KindView};
use crate::state::AppState;

pub struct BulkApi;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum StatusFilter {
    Active,
    Cooling,
    Disabled,
    Banned,
    NeedsSignIn,
}

impl From<StatusFilter> for crate::pool::Health {
    fn from(s: StatusFilter) -> Self {
        match s {
            StatusFilter::Active => Self::Active,
            StatusFilter::Cooling => Self::Cooling,
            StatusFilter::Disabled => Self::Disabled,
            StatusFilter::Banned => Self::Banned,
            StatusFilter::NeedsSignIn => Self::NeedsSignIn,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum SortField {
    Id,
    Name,
    Status,
    LastUsed,
    Errors,
    Calls,
}

impl From<SortField> for SortKey {
    fn from(s: SortField) -> Self {
        match s {
            SortField::Id => Self::Id,
            SortField::Name => Self::Name,
            SortField::Status => Self::Status,
            SortField::LastUsed => Self::LastUsed,
            SortField::Errors => Self::Errors,
            SortField::Calls => Self::Calls,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum SortOrder {
    Asc,
    Desc,
}

/// How many credentials are in each state (the whole pool, whatever the filter).
#[derive(Object)]
pub struct StateCounts {
    pub total: u64,
    pub active: u64,
    pub cooling: u64,
    pub disabled: u64,
    pub banned: u64,
    pub needs_sign_in: u64,
}

impl From<crate::pool::PoolSummary> for StateCounts {
    fn from(s: crate::pool::PoolSummary) -> Self {
        Self {
            total: s.total as u64,
            active: s.active as u64,
            cooling: s.cooling as u64,
            disabled: s.disabled as u64,
            banned: s.banned as u64,
            needs_sign_in: s.needs_sign_in as u64,
        }
    }
}

/// One page of credentials.
#[derive(Object)]
struct CredentialPage {
    items: Vec<Credential>,
    /// Credentials matching the filter, on all pages.
    matching: u64,
    page: u64,
    pages: u64,
    per: u64,
    counts: StateCounts,
}

#[derive(ApiResponse)]
enum QueryCredentialsResponse {
    #[oai(status = 200)]
    Ok(Json<CredentialPage>),
    /// A filter value is not valid (`target` names it).
    #[oai(status = 422)]
    Invalid(Json<ApiError>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum BulkActionView {
    Enable,
    Disable,
    /// For good, like the single delete.
    Delete,
    /// Ask Google again whether each credential works (as on import); a dead one is set
    /// aside with the reason, one that works again is taken back.
    Recheck,
}

#[derive(Object)]
struct BulkRequest {
    action: BulkActionView,
    /// The credentials to act on (at most 10,000).
    ids: Vec<CredId>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum BulkOutcomeView {
    Done,
    NotFound,
    /// Re-check: Google refused it; it is set aside with the reason.
    Refused,
    /// Re-check: Google could not be asked; nothing changed.
    Unchecked,
}

#[derive(Object)]
struct BulkItemView {
    id: CredId,
    outcome: BulkOutcomeView,
    message: Option<String>,
}

#[derive(Object)]
struct BulkResult {
    /// One entry per distinct id, in id order.
    results: Vec<BulkItemView>,
    /// Entries whose outcome is `done`.
    done: u64,
    /// The pool's state counts after the action.
    counts: StateCounts,
}

#[derive(ApiResponse)]
enum BulkResponse {
    #[oai(status = 200)]
    Ok(Json<BulkResult>),
    /// No ids, or too many.
    #[oai(status = 422)]
    Invalid(Json<ApiError>),
}

#[derive(Object)]
struct ExportRequest {
    /// The credentials to export (at most 10,000); unknown ids are skipped.
    ids: Vec<CredId>,
}

#[derive(ApiResponse)]
enum ExportSelectedResponse {
    /// The chosen credentials as a ZIP that the import operation accepts. It contains
    /// secrets: keep it safe.
    #[oai(status = 200, content_type = "application/zip")]
    Ok(
        Binary<Vec<u8>>,
        #[oai(header = "content-disposition")] String,
        #[oai(header = "cache-control")] String,
    ),
    #[oai(status = 422)]
    Invalid(Json<ApiError>),
}

fn invalid(target: &str, message: impl Into<String>) -> Json<ApiError> {
    Json(ApiError::new(ErrorCode::Invalid, message).with_target(target))
}

fn bulk_failure(e: BulkError) -> Result<Json<ApiError>, Failure> {
    match e {
        BulkError::Empty | BulkError::TooMany => Ok(invalid("ids", e.to_string())),
        e => Err(Failure::internal("bulk action failed", &e)),
    }
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Credentials")]
impl BulkApi {
    /// One page of credentials, searched, filtered and sorted in memory: fast with thousands.
    #[oai(
        path = "/credentials/query",
        method = "get",
        operation_id = "query_credentials"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn query(
        &self,
        _caller: PanelAuth,
        state: Data<&AppState>,
        /// Part of the name, e-mail, project or quota group (any case), or an id.
        q: Query<Option<String>>,
        kind: Query<Option<KindView>>,
        status: Query<Option<StatusFilter>>,
        /// Only credentials that can serve this model (offered by their kind or model list,
        /// and not found unavailable through them).
        model: Query<Option<String>>,
        /// `any` (some upstream error recorded), `none`, or an HTTP status such as `429`.
        error: Query<Option<String>>,
        sort: Query<Option<SortField>>,
        order: Query<Option<SortOrder>>,
        /// From 1.
        page: Query<Option<u32>>,
        /// 1 to 500; 50 when absent.
        per: Query<Option<u32>>,
    ) -> Result<QueryCredentialsResponse, Failure> {
        let error = match error.0.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
            None => None,
            Some(e) => match ErrorFilter::parse(e) {
                Some(f) => Some(f),
                None => {
                    return Ok(QueryCredentialsResponse::Invalid(invalid(
                        "error",
                        "error is `any`, `none` or an HTTP status",
                    )));
                }
            },
        };
        let per = per.0.unwrap_or(50) as usize;
        if !(1..=crate::pool::service::query_max_per()).contains(&per) {
            return Ok(QueryCredentialsResponse::Invalid(invalid(
                "per",
                "per is between 1 and 500",
            )));
        }
        let query = CredentialQuery {
            search: q.0,
            kind: kind.0.map(Into::into),
            status: status.0.map(Into::into),
            model: model.0.filter(|m| !m.trim().is_empty()),
            error,
            sort: sort.0.map(Into::into).unwrap_or_default(),
            desc: order.0 == Some(SortOrder::Desc),
            page: page.0.unwrap_or(1).max(1) as usize,
            per,
        };
        let found = state.pool.query(&query);
        let items = state
            .pool
            .views_of(&found.ids, &state.usage)
            .await
            .map_err(|e| Failure::internal("cannot list credentials", &e))?;
        Ok(QueryCredentialsResponse::Ok(Json(CredentialPage {
            items,
            matching: found.matching as u64,
            page: found.page as u64,
            pages: found.pages as u64,
            per: found.per as u64,
            counts: found.counts.into(),
        })))
    }

    /// Enable, disable, delete or re-check many credentials at once; each id gets its own
    /// result.
    #[oai(
        path = "/credentials/bulk",
        method = "post",
        operation_id = "bulk_credentials"
    )]
    async fn bulk(
        &self,
        _caller: PanelAuth,
        state: Data<&AppState>,
        body: Json<BulkRequest>,
    ) -> Result<BulkResponse, Failure> {
        let action = match body.0.action {
            BulkActionView::Enable => BulkAction::Enable,
            BulkActionView::Disable => BulkAction::Disable,
            BulkActionView::Delete => BulkAction::Delete,
            BulkActionView::Recheck => BulkAction::Recheck,
        };
        let items = match state.pool.bulk(action, &body.0.ids).await {
            Ok(items) => items,
            Err(e) => return Ok(BulkResponse::Invalid(bulk_failure(e)?)),
        };
        let results: Vec<BulkItemView> = items
            .into_iter()
            .map(|i| BulkItemView {
                id: i.id,
                outcome: match i.outcome {
                    BulkOutcome::Done => BulkOutcomeView::Done,
                    BulkOutcome::NotFound => BulkOutcomeView::NotFound,
                    BulkOutcome::Refused => BulkOutcomeView::Refused,
                    BulkOutcome::Unchecked => BulkOutcomeView::Unchecked,
                },
                message: i.message,
            })
            .collect();
        let done = results
            .iter()
            .filter(|r| r.outcome == BulkOutcomeView::Done)
            .count() as u64;
        Ok(BulkResponse::Ok(Json(BulkResult {
            results,
            done,
            counts: state.pool.summary().into(),
        })))
    }

    /// Download the chosen credentials as one ZIP. It contains secrets: keep it safe.
    #[oai(
        path = "/credentials/export-selected",
        method = "post",
        operation_id = "export_selected_credentials"
    )]
    async fn export_selected(
        &self,
        _caller: PanelAuth,
        state: Data<&AppState>,
        body: Json<ExportRequest>,
    ) -> Result<ExportSelectedResponse, Failure> {
        match state.pool.export_some(&body.0.ids).await {
            Ok(zip) => Ok(ExportSelectedResponse::Ok(
                Binary(zip),
                content_disposition("credentials.zip"),
                "no-store".into(),
            )),
            Err(e) => Ok(ExportSelectedResponse::Invalid(bulk_failure(e)?)),
        }
    }
}
