//! Open exceptions as a clerk reads them: each with its title, a line of
//! explanation, the decisions that fit its kind, its document named in
//! words ("order SO-1001", "stock at wh-north") and its events as who did
//! what and when (device, role, device time, what happened), looked up in
//! the document's events, instead of bare ids and clock values.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use waybill_shared::doc::{self, DocId};
use waybill_shared::event::Event;
use waybill_shared::event::office::Decision;
use waybill_shared::event_id::EventId;
use waybill_shared::fold::ExceptionType;
use waybill_shared::id::DeviceId;

use super::ApiError;
use crate::office::OFFICE_DEVICE;
use crate::server::Shared;
use crate::storage::StorageError;

/// An open exception as `GET /api/exceptions` answers it (built as JSON
/// by [`in_words`]).
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct InWords {
    doc: DocId,
    /// `<kind>:<subject>`.
    #[schema(examples("short_pick:2"))]
    id: String,
    kind: String,
    events: Vec<EventId>,
    /// What the fold found, by kind.
    detail: Option<Value>,
    #[schema(examples("Stock below zero"))]
    title: String,
    explanation: Option<String>,
    #[schema(examples("order SO-1001", "stock at wh-north", "route R-7"))]
    document: Option<String>,
    decisions: Vec<Fitting>,
    happened: Vec<Happened>,
}

/// A decision that fits the exception's kind, with its words.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct Fitting {
    decision: Decision,
    words: String,
}

/// One of an exception's events, in words.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct Happened {
    event: EventId,
    device: DeviceId,
    /// The device's role, `office` for the office's events.
    role: Option<String>,
    /// The office user who wrote it, for the office's events.
    by: Option<String>,
    /// The device's time; null when the event has not reached the server.
    #[schema(format = DateTime)]
    at: Option<String>,
    #[schema(examples("picked"))]
    what: String,
}

/// The document in words: `order SO-1001`, `stock at wh-north`, `route R-7`.
pub fn document_words(doc: &DocId) -> String {
    match doc {
        DocId::Order(id) => format!("order {id}"),
        DocId::Location { id, .. } => format!("stock at {id}"),
        DocId::Route(id) => format!("route {id}"),
    }
}

/// The decisions of `t` as the API lists them: name and words.
fn decisions(t: ExceptionType) -> Value {
    t.decisions().iter().map(|d| json!({ "decision": d.name(), "words": d.words() })).collect()
}

/// The names of the decisions that fit `t`, for an error message.
fn names(decisions: &[Decision]) -> String {
    decisions.iter().map(|d| d.name()).collect::<Vec<_>>().join(", ")
}

/// Refuses a decision that does not fit the kind of exception `id` names,
/// or an id that names no kind; the error names what fits.
pub fn check_fits(id: &str, decision: Decision) -> Result<(), ApiError> {
    let Some(t) = ExceptionType::of_id(id) else {
        let kinds: Vec<&str> = ExceptionType::ALL.iter().map(|t| t.name()).collect();
        return Err(ApiError::bad(
            "exception",
            format!(
                "`{id}` names no kind of exception (`<kind>:<subject>`, kind one of {})",
                kinds.join(", ")
            ),
        ));
    };
    if t.fits(decision) {
        return Ok(());
    }
    Err(ApiError::bad(
        "decision",
        format!(
            "`{}` does not fit a {} exception ({}): decide one of {}",
            decision.name(),
            t.name(),
            t.title().to_lowercase(),
            names(t.decisions())
        ),
    ))
}

/// The events of `doc`, by id; empty if it is not stored.
async fn events_of(shared: &Shared, doc: &DocId) -> Result<HashMap<String, Event>, StorageError> {
    let Some(entry) = shared.docs.get(&shared.storage, doc).await? else { return Ok(HashMap::new()) };
    let mut loaded = entry.lock().await;
    let events =
        doc::events(doc, loaded.doc.document()).map_err(|e| StorageError::Corrupt(format!("{doc}: {e}")))?;
    Ok(events.into_iter().map(|e| (e.id.to_string(), e)).collect())
}

/// Adds the words to each listed exception (rows of `doc`, `id`, `kind`,
/// `events`, `detail`): `title`, `explanation`, `decisions`, `document`
/// and `happened`, one entry per event in the order listed.
pub async fn in_words(shared: &Shared, mut list: Vec<Value>) -> Result<Vec<Value>, ApiError> {
    let roles: HashMap<String, String> = shared.storage.device_roles().await?.into_iter().collect();
    let mut docs: HashMap<String, HashMap<String, Event>> = HashMap::new();
    for x in &mut list {
        let id = x["id"].as_str().unwrap_or_default().to_owned();
        if let Some(t) = ExceptionType::of_id(&id) {
            x["title"] = json!(t.title());
            x["explanation"] = json!(t.describe());
            x["decisions"] = decisions(t);
        } else {
            // A kind this build does not know: the office may still accept it.
            x["title"] = json!(id);
            x["decisions"] = json!([{ "decision": "accept", "words": Decision::Accept.words() }]);
        }
        let doc_text = x["doc"].as_str().unwrap_or_default().to_owned();
        let Ok(doc) = doc_text.parse::<DocId>() else { continue };
        x["document"] = json!(document_words(&doc));
        if !docs.contains_key(&doc_text) {
            // A document that does not read leaves its events unnamed; the
            // rest of the list still answers.
            let events = events_of(shared, &doc).await.unwrap_or_else(|e| {
                tracing::error!(error = %e, doc = %doc, "exceptions: reading the document failed");
                HashMap::new()
            });
            docs.insert(doc_text.clone(), events);
        }
        let events = &docs[&doc_text];
        let ids: Vec<String> = x["events"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e.as_str().map(str::to_owned))
            .collect();
        let happened: Vec<Value> = ids
            .iter()
            .map(|event| {
                let device = event.rsplit_once(':').map_or(event.as_str(), |(d, _)| d);
                let role = roles.get(device).map(String::as_str).or((device == OFFICE_DEVICE).then_some("office"));
                match events.get(event) {
                    Some(e) => json!({
                        "event": event, "device": device, "role": role, "by": e.by,
                        "at": e.at.to_rfc3339(), "what": e.payload.words(),
                    }),
                    None => json!({ "event": event, "device": device, "role": role, "at": null, "what": "not received yet" }),
                }
            })
            .collect();
        x["happened"] = json!(happened);
    }
    Ok(list)
}
