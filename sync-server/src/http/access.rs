//! Who may call which office route: one table ([`RULES`]) of method and
//! route to the [`Permission`] it needs, checked by one middleware
//! ([`check`]) after sign-in, for every route.
//!
//! A route missing from the table is refused to everyone but an admin, so
//! a new route is closed until someone decides who may call it (and a test
//! checks that every mounted route is in the table). A warehouse lead is
//! held to their locations: a route with the location in its path
//! (`/locations/{id}/receipts`) is refused for any other; the one route
//! that names a document in its body (`/exceptions/resolve`) checks it in
//! its handler ([`may_touch`]); and the lists of what is bound to a
//! location (stock, quotas, exceptions) show a lead only their locations'
//! ([`Scope`]). A refusal is 403, saying which roles may.
//!
//! Each request that is not a read is written to the audit log
//! ([`crate::audit`]) once answered, with what the table says it does.

use std::collections::BTreeSet;

use axum::extract::{MatchedPath, OriginalUri, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use waybill_shared::doc::DocId;

use super::{ApiError, App};
use crate::server::Shared;
use crate::storage::StorageError;
use crate::users::{Access, UserRole};

/// What a route needs of the user's role. Admins have every permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Anyone signed in: reading, and one's own session.
    Anyone,
    /// Orders, allocation, routes and payments: dispatchers.
    Dispatch,
    /// Resolving exceptions: dispatchers, and warehouse leads for their
    /// locations' documents.
    Exceptions,
    /// Receipts, pick lists and quotas at the location in the path:
    /// warehouse leads who work there.
    Warehouse,
    /// The audit log: viewers.
    Audit,
    /// Devices, locations, webhooks: admins only.
    Admin,
}

impl Permission {
    /// Every permission.
    pub const ALL: [Self; 6] =
        [Self::Anyone, Self::Dispatch, Self::Exceptions, Self::Warehouse, Self::Audit, Self::Admin];

    /// The roles that have it.
    pub fn roles(self) -> &'static [UserRole] {
        use UserRole::{Admin, Dispatcher, Viewer, WarehouseLead};
        match self {
            Self::Anyone => &[Admin, Dispatcher, WarehouseLead, Viewer],
            Self::Dispatch => &[Admin, Dispatcher],
            Self::Exceptions => &[Admin, Dispatcher, WarehouseLead],
            Self::Warehouse => &[Admin, WarehouseLead],
            Self::Audit => &[Admin, Viewer],
            Self::Admin => &[Admin],
        }
    }

    /// Whether `role` has it.
    pub fn allows(self, role: UserRole) -> bool {
        self.roles().contains(&role)
    }

    /// Its name, as `GET /api/session` lists them (`may`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Anyone => "anyone",
            Self::Dispatch => "dispatch",
            Self::Exceptions => "exceptions",
            Self::Warehouse => "warehouse",
            Self::Audit => "audit",
            Self::Admin => "admin",
        }
    }

    /// The roles that have it, as a person reads them.
    fn who(self) -> String {
        let names: Vec<String> = self
            .roles()
            .iter()
            .map(|r| match r {
                UserRole::WarehouseLead => "a warehouse_lead (at their locations)".to_owned(),
                r => format!("{} {r}", if *r == UserRole::Admin { "an" } else { "a" }),
            })
            .collect();
        match names.split_last() {
            Some((last, [])) => format!("only {last}"),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => "nobody".to_owned(),
        }
    }
}

/// One route: its method and path as mounted under `/api`, the permission
/// it needs, and what it does in words (for refusals and the audit log).
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// `GET`, `POST`, `DELETE`.
    pub method: &'static str,
    /// The route as mounted, without `/api`: `/orders/{id}/hold`.
    pub path: &'static str,
    /// What it needs.
    pub permission: Permission,
    /// What it does: `hold an order`.
    pub action: &'static str,
}

const fn rule(
    method: &'static str,
    path: &'static str,
    permission: Permission,
    action: &'static str,
) -> Rule {
    Rule { method, path, permission, action }
}

use Permission::{Admin, Anyone, Audit, Dispatch, Exceptions, Warehouse};

/// Every office route and who may call it.
pub const RULES: &[Rule] = &[
    rule("GET", "/orders", Anyone, "list orders"),
    rule("POST", "/orders", Dispatch, "create an order"),
    rule("POST", "/orders/import", Dispatch, "import orders from CSV"),
    rule("GET", "/orders/{id}", Anyone, "read an order"),
    rule("GET", "/orders/{id}/epcis", Anyone, "export an order's events"),
    rule("POST", "/orders/{id}/hold", Dispatch, "hold an order"),
    rule("POST", "/orders/{id}/release", Dispatch, "release an order"),
    rule("POST", "/orders/{id}/cancel", Dispatch, "cancel an order"),
    rule("POST", "/orders/{id}/address", Dispatch, "amend an order's address"),
    rule("POST", "/orders/{id}/payment", Dispatch, "record a payment"),
    rule("POST", "/orders/{id}/tracking/revoke", Dispatch, "revoke a tracking link"),
    rule("POST", "/orders/{id}/returns", Dispatch, "authorise a return"),
    rule("POST", "/orders/{id}/refund", Dispatch, "record a refund"),
    rule("POST", "/routes/{id}/cash", Dispatch, "record cash handed in"),
    rule("POST", "/routes/{id}/stops", Dispatch, "add an order to a route on the road"),
    rule("GET", "/cash", Anyone, "read the cash reconciliation"),
    rule("GET", "/exceptions", Anyone, "list open exceptions"),
    rule("POST", "/exceptions/resolve", Exceptions, "resolve an exception"),
    rule("GET", "/devices", Anyone, "list devices"),
    rule("POST", "/devices", Admin, "enrol a device"),
    rule("POST", "/devices/{id}/revoke", Admin, "revoke a device"),
    rule("GET", "/stock", Anyone, "read stock"),
    rule("GET", "/locations", Anyone, "list locations"),
    rule("POST", "/locations", Admin, "create a location"),
    rule("POST", "/locations/{id}/receipts", Warehouse, "receive stock"),
    rule("POST", "/locations/{id}/picklists", Warehouse, "hand out pick lists"),
    rule("POST", "/locations/{id}/routes", Dispatch, "plan routes"),
    rule("GET", "/locations/{id}/epcis", Anyone, "export a location's events"),
    rule("POST", "/locations/{id}/quotas", Warehouse, "set a quota target"),
    rule("POST", "/locations/{id}/quotas/grant", Warehouse, "grant a quota"),
    rule("GET", "/quotas", Anyone, "list quotas"),
    rule("POST", "/allocate", Dispatch, "allocate orders"),
    rule("GET", "/routes", Anyone, "list routes"),
    rule("GET", "/map", Anyone, "read the map"),
    rule("GET", "/metrics", Anyone, "read the metrics"),
    rule("GET", "/blobs/{hash}", Anyone, "see a proof image"),
    rule("GET", "/events", Anyone, "follow changes live"),
    rule("GET", "/session", Anyone, "see who is signed in"),
    rule("POST", "/session", Anyone, "sign in"),
    rule("DELETE", "/session", Anyone, "sign out"),
    rule("GET", "/webhooks", Admin, "list webhooks"),
    rule("POST", "/webhooks", Admin, "add a webhook"),
    rule("DELETE", "/webhooks/{id}", Admin, "remove a webhook"),
    rule("GET", "/audit", Audit, "read the audit log"),
];

/// The rule for a request: by method (`HEAD` as `GET`) and route.
pub fn rule_for(method: &Method, route: &str) -> Option<&'static Rule> {
    let method = if method == Method::HEAD { "GET" } else { method.as_str() };
    RULES.iter().find(|r| r.method == method && r.path == route)
}

/// The permissions a role has, by name.
pub fn names_for(role: UserRole) -> Vec<&'static str> {
    Permission::ALL.iter().filter(|p| p.allows(role)).map(|p| p.name()).collect()
}

/// The value of `{id}` in `path` where `route` has it.
fn path_id<'a>(route: &str, path: &'a str) -> Option<&'a str> {
    let (route, path): (Vec<&str>, Vec<&str>) = (route.split('/').collect(), path.split('/').collect());
    (route.len() == path.len()).then_some(())?;
    route.iter().zip(path).find(|(r, _)| **r == "{id}").map(|(_, p)| p)
}

/// Whether `access` may make the request; the refusal if not.
fn decide(access: &Access, method: &Method, route: &str, path: &str) -> Result<(), ApiError> {
    let Some(rule) = rule_for(method, route) else {
        return if access.role == UserRole::Admin {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "{method} /api{route} has no entry in the permission table: only an admin may call it"
                ),
                None,
            ))
        };
    };
    if !rule.permission.allows(access.role) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "{} is a {} and may not {}: {} may ({method} /api{route})",
                access.user,
                access.role,
                rule.action,
                rule.permission.who()
            ),
            None,
        ));
    }
    if rule.permission == Permission::Warehouse {
        let location = path_id(route, path).unwrap_or_default();
        if !access.covers(location) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "{} is a warehouse_lead at {} and may not {} at {location}",
                    access.user,
                    access.locations.join(", "),
                    rule.action
                ),
                Some("id"),
            ));
        }
    }
    Ok(())
}

/// The middleware: refuses what the user's role may not do (403), and
/// writes down each request that is not a read once it is answered.
pub async fn check(State(app): State<App>, request: Request, next: Next) -> Response {
    let Some(access) = request.extensions().get::<Access>().cloned() else {
        // Only signing in gets past sign-in without a user.
        return next.run(request).await;
    };
    let method = request.method().clone();
    let full = request
        .extensions()
        .get::<OriginalUri>()
        .map_or_else(|| request.uri().path().to_owned(), |u| u.path().to_owned());
    let path = full.strip_prefix("/api").unwrap_or(&full).to_owned();
    let matched = request.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned());
    let route = matched.as_deref().map_or(path.as_str(), |m| m.strip_prefix("/api").unwrap_or(m)).to_owned();
    let action = rule_for(&method, &route).map_or("call a route not in the permission table", |r| r.action);
    let response = match decide(&access, &method, &route, &path) {
        Ok(()) => next.run(request).await,
        Err(refused) => refused.into_response(),
    };
    if method != Method::GET && method != Method::HEAD {
        let request = format!("{method} {full}");
        let status = Some(response.status().as_u16());
        if let Err(e) = crate::audit::record(&app.shared.storage, &access, action, &request, status).await {
            tracing::error!(error = %e, %request, "the audit log could not be written");
        }
    }
    response
}

/// Adds to the OpenAPI document, for each operation in the table, who may
/// call it (`x-roles`) and its 403 answer for everyone else.
pub fn describe(doc: &mut serde_json::Value) {
    for r in RULES {
        let op = &mut doc["paths"][format!("/api{}", r.path)][r.method.to_ascii_lowercase()];
        if !op.is_object() || r.permission == Permission::Anyone {
            continue;
        }
        let roles: Vec<&str> = r.permission.roles().iter().map(|r| r.as_str()).collect();
        op["x-roles"] = serde_json::json!(roles);
        op["responses"]["403"] = serde_json::json!({
            "description": format!("Refused: {} may", r.permission.who()),
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
        });
    }
}

/// What a warehouse lead works on: their locations, and the orders at
/// them (`order/SO-1`).
pub struct Scope {
    locations: Vec<String>,
    orders: BTreeSet<String>,
}

impl Scope {
    /// A warehouse lead's scope; `None` for the other roles, who see
    /// everything.
    pub async fn of(shared: &Shared, access: &Access) -> Result<Option<Self>, StorageError> {
        if !access.role.is_scoped() {
            return Ok(None);
        }
        let mut orders = BTreeSet::new();
        for l in &access.locations {
            orders.extend(shared.storage.packer_orders(l, true).await?);
        }
        Ok(Some(Self { locations: access.locations.clone(), orders }))
    }

    /// Whether `location` is one of the lead's.
    pub fn has_location(&self, location: &str) -> bool {
        self.locations.iter().any(|l| l == location)
    }

    /// Whether document `doc` is one the lead works on: a stock document
    /// of their locations, or an order at one of them.
    pub fn has_doc(&self, doc: &str) -> bool {
        match doc.parse::<DocId>() {
            Ok(DocId::Location { id, .. }) => self.has_location(id.as_str()),
            Ok(DocId::Order(_)) => self.orders.contains(doc),
            _ => false,
        }
    }
}

/// Refuses a warehouse lead a document outside their locations.
pub async fn may_touch(shared: &Shared, access: &Access, doc: &DocId) -> Result<(), ApiError> {
    match Scope::of(shared, access).await? {
        Some(scope) if !scope.has_doc(&doc.to_string()) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "{} is a warehouse_lead at {}: {doc} is not at their locations",
                access.user,
                access.locations.join(", ")
            ),
            Some("doc"),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_location_in_a_path_is_found_by_the_route() {
        assert_eq!(path_id("/locations/{id}/receipts", "/locations/wh-1/receipts"), Some("wh-1"));
        assert_eq!(path_id("/locations/{id}/quotas/grant", "/locations/wh 2/quotas/grant"), Some("wh 2"));
        assert_eq!(path_id("/locations/{id}/receipts", "/locations/wh-1/x/receipts"), None);
        assert_eq!(path_id("/allocate", "/allocate"), None);
    }

    #[test]
    fn every_rule_is_listed_once_and_admins_may_do_everything() {
        for (i, r) in RULES.iter().enumerate() {
            assert!(
                !RULES[..i].iter().any(|o| o.method == r.method && o.path == r.path),
                "{} {} twice",
                r.method,
                r.path
            );
            assert!(r.permission.allows(UserRole::Admin));
        }
        assert_eq!(Permission::Dispatch.who(), "an admin or a dispatcher");
        assert_eq!(Permission::Admin.who(), "only an admin");
        assert_eq!(names_for(UserRole::Viewer), ["anyone", "audit"]);
    }
}
