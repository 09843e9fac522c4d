//! The API's OpenAPI 3.1 description, generated (utoipa) from the handlers'
//! `#[utoipa::path]` attributes and the types they read and write. The
//! router mounts each handler through its description (`routes!`), so no
//! route is served undescribed or described at another path; who may call
//! each operation comes from the permission table ([`super::access`]); and
//! the tests check the answers they get against the schemas described.

use serde::Serialize;
use serde_json::{Value, json};
use utoipa::{OpenApi, ToSchema};

/// What a refused request answers, with a 4xx status: nothing was written.
#[derive(Serialize, ToSchema)]
pub struct Error {
    /// What is wrong, in words.
    pub error: String,
    /// The field at fault, as a path (`lines[0].quantity`), or a header
    /// name; null when no one field is.
    pub field: Option<String>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Waybill office API",
        description = "Orders, exceptions, devices and stock of a Waybill sync server. Sign in with POST /api/session; every other /api route needs the session (cookie `waybill_session`, or `Authorization: Bearer <session token>`) or the server's service token as a bearer token. Errors are `{\"error\", \"field\"}` with a 4xx status; a refused request writes nothing."
    ),
    components(schemas(Error))
)]
struct Base;

/// The keys of a path item that are operations.
const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// The document: `api` (the operations the router registered, at their
/// paths under `/api`) and `outside` (those at the root, such as
/// `/metrics`), with sign-in and refusals described on every operation.
pub fn document(api: utoipa::openapi::OpenApi, outside: utoipa::openapi::OpenApi) -> Value {
    let mut doc = Base::openapi().nest("/api", api);
    doc.merge(outside);
    let mut doc = serde_json::to_value(doc).unwrap_or_default();
    doc["components"]["securitySchemes"] = json!({ "bearer": { "type": "http", "scheme": "bearer" } });
    doc["security"] = json!([{ "bearer": [] }]);
    let error = json!({ "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } });
    if let Some(paths) = doc["paths"].as_object_mut() {
        let operations = paths.values_mut().filter_map(Value::as_object_mut).flat_map(|item| {
            item.iter_mut().filter(|(method, _)| METHODS.contains(&method.as_str())).map(|(_, op)| op)
        });
        for op in operations {
            // `security(())`: open to anyone (signing in).
            let public = op["security"].as_array().is_some_and(|s| s.iter().any(|r| r == &json!({})));
            if !public {
                op["responses"]["401"] = json!({ "description": "Not signed in", "content": error });
            }
            if op["requestBody"]["content"]["application/json"].is_object() {
                op["responses"]["415"] =
                    json!({ "description": "The body is not sent as application/json", "content": error });
            }
        }
    }
    // Who may call each operation, from the permission table.
    super::access::describe(&mut doc);
    doc
}
