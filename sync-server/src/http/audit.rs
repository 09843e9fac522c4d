//! `GET /api/audit`: the audit log, newest first, a page at a time.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::IntoResponse;
use serde::Deserialize;

use super::{ApiError, ApiResult, App};
use crate::audit;

/// Entries on a page unless `limit` says otherwise.
const PAGE: i64 = 50;

/// Which page: up to `limit` entries numbered below `before`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Entries numbered below this (the previous page's `next`).
    #[serde(default)]
    before: Option<i64>,
    /// Entries on the page: 1 to 500, 50 if left out.
    #[serde(default)]
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

/// A page of the audit log.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    entries: Vec<audit::Entry>,
    /// The `before` of the next, older page; null at the oldest.
    next: Option<i64>,
}

/// `GET /api/audit?limit=&before=`: `{"entries": [...], "next": N}`, where
/// `next` is the `before` of the following (older) page, or `null` at the
/// oldest.
#[utoipa::path(get, path = "/audit", summary = "Who did what in the office and when, newest first",
    description = "Every request but reads (refused ones too), signing in, and users added, removed or given a role on the command line (by `cli`). A page holds `limit` entries (50 by default, at most 500) numbered below `before`; `next` is the `before` of the next, older page, or null at the oldest.",
    params(AuditQuery),
    responses(
        (status = 200, description = "A page", body = AuditPage),
        (status = 400, description = "limit is out of range", body = super::openapi::Error),
    )
)]
pub async fn list(State(app): State<App>, q: Result<Query<AuditQuery>, QueryRejection>) -> ApiResult {
    let Query(q) = q?;
    let limit = q.limit.unwrap_or(PAGE);
    if !(1..=audit::MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad("limit", format!("limit: 1 to {}", audit::MAX_PAGE)));
    }
    let entries = audit::list(&app.shared.storage, q.before, limit).await?;
    let next = (entries.len() as i64 == limit).then(|| entries.last().map(|e| e.id)).flatten();
    Ok(Json(AuditPage { entries, next }).into_response())
}
