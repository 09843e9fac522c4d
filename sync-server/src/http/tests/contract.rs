//! The API's answers against its description: every answer the tests get
//! has a status its operation lists, and a JSON answer validates against
//! the schema described for that status. So the description, generated
//! from the handlers and their types, cannot drift from what they send.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use axum::http::StatusCode;
use serde_json::{Value, json};

static DESCRIPTION: LazyLock<Value> = LazyLock::new(crate::http::description);

/// Validators by operation and status, compiled once.
static VALIDATORS: LazyLock<Mutex<HashMap<String, Arc<jsonschema::Validator>>>> =
    LazyLock::new(Default::default);

/// The described path `uri` is answered under, and its operations: the
/// template with the fewest parameters (`/orders/import` before
/// `/orders/{id}`).
fn operations(path: &str) -> Option<(&'static str, &'static Value)> {
    let segments: Vec<&str> = path.split('/').collect();
    let mut found: Vec<(&str, &Value)> = DESCRIPTION["paths"]
        .as_object()?
        .iter()
        .filter(|(template, _)| {
            let t: Vec<&str> = template.split('/').collect();
            t.len() == segments.len() && t.iter().zip(&segments).all(|(t, s)| t.starts_with('{') || t == s)
        })
        .map(|(t, item)| (t.as_str(), item))
        .collect();
    found.sort_by_key(|(t, _)| t.matches('{').count());
    found.into_iter().next()
}

/// Panics when `status` or `body` is not what the description says
/// `method uri` answers.
pub fn check(method: &str, uri: &str, status: StatusCode, body: &Value) {
    let path = uri.split('?').next().unwrap_or(uri);
    // Unknown paths and methods answer from the fallbacks, described in
    // the errors they give.
    let Some((template, item)) = operations(path) else { return };
    let Some(op) = item.get(method.to_ascii_lowercase()) else { return };
    let described = &op["responses"][status.as_str()];
    assert!(
        described.is_object(),
        "{method} {template} answered {status}, which its description does not list: {body}"
    );
    let Some(schema) = described["content"]["application/json"].get("schema") else { return };
    let key = format!("{method} {template} {status}");
    let validator = VALIDATORS
        .lock()
        .unwrap()
        .entry(key.clone())
        .or_insert_with(|| {
            let root = json!({ "components": DESCRIPTION["components"], "allOf": [schema] });
            let validator = jsonschema::draft202012::options().should_validate_formats(true).build(&root);
            Arc::new(validator.unwrap_or_else(|e| panic!("{key}: the schema: {e}")))
        })
        .clone();
    let errors: Vec<String> =
        validator.iter_errors(body).map(|e| format!("{e} (at {})", e.instance_path())).collect();
    let text: String = body.to_string().chars().take(600).collect();
    assert!(errors.is_empty(), "{key}: the answer is not as described: {errors:#?}\n{text}");
}
