//! The customer's tracking page, outside the office API and its sign-in:
//! `GET /track/{order}/{key}` (HTML), `/status` beside it (the same as
//! JSON), `/events` (server-sent events: `changed` whenever the order or
//! its route changes, on which the page reloads itself), `/photo` (where
//! the shipper allows it), and the forms' `POST /feedback` and `/return`.
//! The office revokes a link with `POST /api/orders/{id}/tracking/revoke`.
//!
//! A wrong, revoked or unknown link gets the same 404. The page keeps the
//! link out of referrers, out of caches and out of search engines, and
//! loads nothing from elsewhere.

use std::convert::Infallible;

use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use chrono::{DateTime, Utc};
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::{Stream, StreamExt};
use waybill_shared::doc::DocId;
use waybill_shared::id::OrderId;

use serde::Deserialize;
use waybill_shared::event::Payload;
use waybill_shared::event::office::TrackingRevoked;

use super::{ApiResult, App, SignedIn, order_event};
use crate::office::OfficeError;
use crate::tracking::{self, CustomerError, Tracking};

/// Why a link is revoked.
#[derive(Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Revoke {
    #[serde(default)]
    reason: String,
}

/// `POST /api/orders/{id}/tracking/revoke`: the order's link stops working;
/// the answer is the order, with its new link.
#[utoipa::path(post, path = "/orders/{id}/tracking/revoke", summary = "Revoke an order's customer tracking link",
    description = "An office event (tracking_revoked): the link the customer has stops working at once, on every node, and the order's view gives a new one in `tracking`. Tracking pages are served outside the API, without sign-in, at /track/{order}/{key}.",
    params(("id" = String, Path, description = "The order id")), request_body(content = Option<Revoke>),
    responses(
        (status = 200, description = "The order's view, with its new tracking link", body = super::OrderAnswer),
        (status = 400, description = "Not an order id, or a field is invalid", body = super::openapi::Error),
        (status = 404, description = "No such order", body = super::openapi::Error),
    )
)]
pub(super) async fn revoke(
    State(app): State<App>,
    axum::Extension(by): axum::Extension<SignedIn>,
    Path(id): Path<String>,
    body: Option<Json<Revoke>>,
) -> ApiResult {
    let reason = body.map(|Json(r)| r.reason).unwrap_or_default();
    order_event(&app, by, &id, Payload::TrackingRevoked(TrackingRevoked { reason })).await
}

/// The tracking routes.
pub(super) fn routes() -> Router<App> {
    Router::new()
        .route("/track/{order}/{key}", get(page))
        .route("/track/{order}/{key}/status", get(status))
        .route("/track/{order}/{key}/events", get(events))
        .route("/track/{order}/{key}/photo", get(photo))
        .route("/track/{order}/{key}/feedback", post(feedback))
        .route("/track/{order}/{key}/return", post(ask_return))
}

/// The answer to a customer's form: back to the page, or why not.
fn answered(order: &str, key: &str, done: Result<(), CustomerError>) -> Response {
    match done {
        Ok(()) => private(Redirect::to(&format!("/track/{order}/{key}"))),
        Err(CustomerError::NotFound) => {
            private((StatusCode::NOT_FOUND, Html(document("Tracking", &format!("<p>{NOT_FOUND}</p>")))))
        }
        Err(CustomerError::Refused(why)) => private((
            StatusCode::BAD_REQUEST,
            Html(document(
                "Tracking",
                &format!(
                    "<p>{}.</p><p><a href=\"/track/{}/{}\">Back to your order</a></p>",
                    escape(&why),
                    escape(order),
                    escape(key)
                ),
            )),
        )),
        Err(CustomerError::Office(e)) => {
            tracing::warn!(error = %e, "tracking page: a customer's request was not written");
            let why = match e {
                OfficeError::Invalid { message, .. } => message,
                _ => "that did not work; please try again in a moment".to_owned(),
            };
            private((
                StatusCode::BAD_REQUEST,
                Html(document("Tracking", &format!("<p>{}</p>", escape(&why)))),
            ))
        }
    }
}

/// The rating form.
#[derive(Deserialize)]
struct Rating {
    rating: u8,
    #[serde(default)]
    comment: String,
}

async fn feedback(
    State(app): State<App>,
    Path((order, key)): Path<(String, String)>,
    form: Result<Form<Rating>, FormRejection>,
) -> Response {
    let done = match (order.parse::<OrderId>(), form) {
        (Err(_), _) => Err(CustomerError::NotFound),
        (_, Err(_)) => Err(CustomerError::Refused("choose a rating from 1 to 5".into())),
        (Ok(id), Ok(Form(r))) => tracking::give_feedback(&app.shared, &id, &key, r.rating, &r.comment).await,
    };
    answered(&order, &key, done)
}

/// The return form: `line-<n>` = units, and `reason`.
async fn ask_return(
    State(app): State<App>,
    Path((order, key)): Path<(String, String)>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let mut lines = Vec::new();
    let mut reason = String::new();
    for (name, value) in &fields {
        match (name.strip_prefix("line-").and_then(|l| l.parse::<u32>().ok()), name.as_str()) {
            (Some(line), _) => lines.push((line, value.trim().parse::<u32>().unwrap_or(0))),
            (None, "reason") => reason.clone_from(value),
            _ => {}
        }
    }
    let done = match order.parse::<OrderId>() {
        Err(_) => Err(CustomerError::NotFound),
        Ok(id) => tracking::request_return(&app.shared, &id, &key, &lines, &reason).await,
    };
    answered(&order, &key, done)
}

const NOT_FOUND: &str = "This tracking link is not valid. It may have been replaced by a newer one: \
                         ask the sender of your order for the current link.";

/// The view, or the one answer every bad link gets.
async fn find(app: &App, order: &str, key: &str) -> Result<Tracking, Response> {
    let not_found =
        || private((StatusCode::NOT_FOUND, Html(document("Tracking", &format!("<p>{NOT_FOUND}</p>")))));
    let Ok(order) = order.parse::<OrderId>() else { return Err(not_found()) };
    match tracking::view(&app.shared, &order, key, Utc::now()).await {
        Ok(Some(view)) => Ok(view),
        Ok(None) => Err(not_found()),
        Err(e) => {
            tracing::error!(error = %e, "tracking page: storage failed");
            Err(private((
                StatusCode::SERVICE_UNAVAILABLE,
                "Tracking is unavailable for a moment; try again.",
            )))
        }
    }
}

async fn page(State(app): State<App>, Path((order, key)): Path<(String, String)>) -> Response {
    match find(&app, &order, &key).await {
        Ok(view) => private(Html(render(&view))),
        Err(answer) => answer,
    }
}

async fn status(State(app): State<App>, Path((order, key)): Path<(String, String)>) -> Response {
    match find(&app, &order, &key).await {
        Ok(view) => private(Json(view)),
        Err(answer) => answer,
    }
}

/// The delivery photo, where the shipper allows it.
async fn photo(State(app): State<App>, Path((order, key)): Path<(String, String)>) -> Response {
    let view = match find(&app, &order, &key).await {
        Ok(view) => view,
        Err(answer) => return answer,
    };
    let bytes = match view.photo {
        Some(hash) => app.shared.blobs.read(&hash, 0, usize::MAX).await,
        None => Ok(None),
    };
    match bytes {
        Ok(Some(bytes)) => private(([(header::CONTENT_TYPE, super::reports::sniff(&bytes))], bytes)),
        Ok(None) => private((StatusCode::NOT_FOUND, "No photo to show.")),
        Err(e) => {
            tracing::error!(error = %e, "tracking page: reading a photo failed");
            private((StatusCode::SERVICE_UNAVAILABLE, "The photo is unavailable for a moment; try again."))
        }
    }
}

async fn events(State(app): State<App>, Path((order, key)): Path<(String, String)>) -> Response {
    let view = match find(&app, &order, &key).await {
        Ok(view) => view,
        Err(answer) => return answer,
    };
    private(Sse::new(changes(&app, &view)).keep_alive(KeepAlive::default()))
}

/// `changed` each time the order's document, or its route's, is stored
/// (the route's progress moves the window).
fn changes(app: &App, view: &Tracking) -> impl Stream<Item = Result<Event, Infallible>> + use<> {
    let order = DocId::Order(view.order.clone()).to_string();
    let route = view.route.clone().map(|r| DocId::Route(r).to_string());
    BroadcastStream::new(app.shared.changes.subscribe()).filter_map(move |change| match change {
        Ok(id) if id == order || route.as_ref() == Some(&id) => {
            Some(Ok(Event::default().event("changed").data("")))
        }
        Ok(_) => None,
        Err(_) => Some(Ok(Event::default().event("changed").data(""))),
    })
}

/// An answer no cache keeps, no referrer leaks, and no robot indexes.
fn private(answer: impl IntoResponse) -> Response {
    let mut response = answer.into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::HeaderName::from_static("x-robots-tag"), "noindex"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; img-src 'self'",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A time, in UTC as text and shown in the reader's own time by the page.
fn time(at: DateTime<Utc>) -> String {
    format!("<time datetime=\"{}\">{}</time>", at.to_rfc3339(), at.format("%-d %b %H:%M UTC"))
}

fn render(v: &Tracking) -> String {
    let mut body = format!(
        "<h1>Order {}</h1><p class=\"status\" id=\"status\">{}</p>",
        escape(v.order.as_str()),
        escape(&v.status)
    );
    if let Some(eta) = &v.eta {
        body.push_str(&format!(
            "<p class=\"eta\" id=\"eta\">Expected between {} and {}{}</p>",
            time(eta.from),
            time(eta.to),
            match eta.stops_before {
                0 => " — you are the next stop.".to_owned(),
                1 => " — 1 stop before yours.".to_owned(),
                n => format!(" — {n} stops before yours."),
            }
        ));
    }
    if let Some(d) = &v.delivered {
        body.push_str(&format!("<p id=\"proof\">{} at {}", escape(&d.taken_by), time(d.at)));
        if let Some(left) = &d.left_at {
            body.push_str(&format!(" ({})", escape(left)));
        }
        body.push_str(".</p>");
        if v.photo.is_some() {
            body.push_str(&format!(
                "<p><img id=\"photo\" src=\"{}/photo\" alt=\"Photo taken at delivery\" style=\"max-width:100%\"></p>",
                escape(&v.link)
            ));
        }
    }
    if let Some(day) = v.promised {
        let slot = v.slot.map_or(String::new(), |s| {
            format!(", between {} and {}", s.from.format("%H:%M"), s.to.format("%H:%M"))
        });
        body.push_str(&format!("<p id=\"promised\">Promised for {}{slot}.</p>", day.format("%A %-d %B %Y")));
    }
    body.push_str(&format!("<p>Going to {}.</p><ol id=\"steps\">", escape(&v.destination)));
    for s in &v.steps {
        body.push_str(&format!("<li><span>{}</span> {}</li>", escape(&s.what), time(s.at)));
    }
    body.push_str("</ol>");
    if v.delivered.is_some() {
        body.push_str(&rating_form(v));
    }
    if !v.returns.is_empty() {
        body.push_str("<h2>Returns</h2><ul id=\"returns\">");
        for r in &v.returns {
            body.push_str(&format!("<li>{} {}</li>", escape(&r.what), time(r.at)));
        }
        body.push_str("</ul>");
    }
    if let Some(until) = v.return_until.filter(|_| v.lines.iter().any(|l| l.returnable > 0)) {
        body.push_str(&format!(
            "<h2>Send something back</h2><form id=\"return\" method=\"post\" action=\"{}/return\"><p>Until {}.</p>",
            escape(&v.link),
            time(until)
        ));
        for l in v.lines.iter().filter(|l| l.returnable > 0) {
            body.push_str(&format!(
                "<label>{} <input type=\"number\" name=\"line-{}\" min=\"0\" max=\"{}\" value=\"0\"> of {}</label><br>",
                escape(&l.description),
                l.line,
                l.returnable,
                l.returnable
            ));
        }
        body.push_str("<label>Why? <input name=\"reason\" maxlength=\"2000\"></label> <button>Ask to return</button></form>");
    }
    document(&format!("Order {}", v.order), &body)
}

fn rating_form(v: &Tracking) -> String {
    let mut form = format!(
        "<h2>How did it go?</h2><form id=\"rate\" method=\"post\" action=\"{}/feedback\">",
        escape(&v.link)
    );
    if let Some(r) = v.rating {
        form.push_str(&format!("<p id=\"rated\">Thank you: you rated it {r} of 5. You can change it.</p>"));
    }
    for n in 1..=5u8 {
        let checked = if v.rating == Some(n) { " checked" } else { "" };
        form.push_str(&format!(
            "<label><input type=\"radio\" name=\"rating\" value=\"{n}\" required{checked}> {n}</label> "
        ));
    }
    form.push_str("<br><label>Anything to tell us? <input name=\"comment\" maxlength=\"2000\"></label> <button>Send</button></form>");
    form
}

fn document(title: &str, body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>{title}</title>
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 34rem; margin: 2rem auto; padding: 0 1rem; color: #1d2430; }}
h1 {{ font-size: 1.3rem; }} .status {{ font-size: 1.2rem; font-weight: 600; }}
.eta {{ background: #eef4ff; padding: .6rem .8rem; border-radius: 6px; }}
ol {{ padding-left: 1.2rem; }} li span {{ font-weight: 500; }} time {{ color: #5a6472; }}
</style></head><body>{body}
<script>
for (const t of document.querySelectorAll("time")) {{
  t.textContent = new Date(t.dateTime).toLocaleString([], {{ day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" }});
}}
// Live: the page reloads when the order or its route changes, unless the
// reader is filling in a form.
let filling = false;
document.addEventListener("input", () => {{ filling = true; }});
if (window.EventSource && !document.title.startsWith("Tracking")) {{
  new EventSource(location.pathname.replace(/\/$/, "") + "/events").addEventListener("changed", () => {{ if (!filling) location.reload(); }});
}}
</script></body></html>"#,
        title = escape(title),
    )
}
