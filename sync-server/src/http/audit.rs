//! `GET /api/audit`: the audit log, newest first, a page at a time.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, ApiResult, App};
use crate::audit;

/// Entries on a page unless `limit` says otherwise.
const PAGE: i64 = 50;

/// Which page: up to `limit` entries numbered below `before`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    #[serde(default)]
    before: Option<i64>,
    #[serde(default)]
    limit: Option<i64>,
}

/// `GET /api/audit?limit=&before=`: `{"entries": [...], "next": N}`, where
/// `next` is the `before` of the following (older) page, or `null` at the
/// oldest.
pub async fn list(State(app): State<App>, q: Result<Query<AuditQuery>, QueryRejection>) -> ApiResult {
    let Query(q) = q?;
    let limit = q.limit.unwrap_or(PAGE);
    if !(1..=audit::MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad("limit", format!("limit: 1 to {}", audit::MAX_PAGE)));
    }
    let entries = audit::list(&app.shared.storage, q.before, limit).await?;
    let next = (entries.len() as i64 == limit).then(|| entries.last().map(|e| e.id)).flatten();
    Ok(Json(json!({ "entries": entries, "next": next })).into_response())
}
