//! The API's OpenAPI 3.1 description, written by hand: it is the contract,
//! and the tests check that every route it names answers.

use serde_json::{Value, json};

fn error_ref() -> Value {
    json!({ "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } })
}

fn ok(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

fn body(schema: Value) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": schema } } })
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn order_id_param() -> Value {
    json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string" }, "description": "The order id" })
}

/// An office event on one order: request body (if any), answered with the view.
fn order_action(summary: &str, request: Option<Value>) -> Value {
    let mut op = json!({
        "summary": summary,
        "parameters": [order_id_param()],
        "responses": {
            "200": ok("The order's view after the event", reference("OrderView")),
            "400": { "description": "A field is invalid", "content": error_ref()["content"].clone() },
            "404": { "description": "No such order", "content": error_ref()["content"].clone() },
        }
    });
    if let Some(schema) = request {
        op["requestBody"] = body(schema);
    }
    json!({ "post": op })
}

/// The document.
pub fn document() -> Value {
    let mut doc = core();
    for (path, item) in session_and_webhooks().into_iter().chain(work()).chain(reports()).chain(payment()) {
        doc["paths"][path] = item;
    }
    // Who may call each operation, from the permission table.
    super::access::describe(&mut doc);
    doc
}

fn session_and_webhooks() -> Vec<(&'static str, Value)> {
    let session = json!({ "type": "object", "properties": {
        "user": { "type": "string" }, "token": { "type": "string" },
        "expires_at": { "type": "string", "format": "date-time" }
    }});
    let webhook = json!({ "type": "object", "properties": {
        "id": { "type": "integer" }, "url": { "type": "string" }, "created_at": { "type": "string" },
        "pending": { "type": "integer" }, "delivered": { "type": "integer" }, "failed": { "type": "integer" }
    }});
    vec![
        (
            "/api/session",
            json!({
                "post": {
                    "summary": "Sign in",
                    "description": "Sets the session cookie (HttpOnly, SameSite=Strict) and returns the session token for API clients.",
                    "security": [],
                    "requestBody": body(json!({ "type": "object", "required": ["user", "password"], "additionalProperties": false,
                        "properties": { "user": { "type": "string" }, "password": { "type": "string" } } })),
                    "responses": { "200": ok("Signed in", session), "400": err("A field is missing"), "401": err("Wrong user name or password") }
                },
                "get": {
                    "summary": "Who is signed in: their role, a warehouse lead's locations, and the permissions the role has",
                    "responses": { "200": ok("The user", json!({ "type": "object", "properties": {
                        "user": { "type": "string" },
                        "role": { "type": "string", "enum": ["admin", "dispatcher", "warehouse_lead", "viewer"] },
                        "locations": { "type": "array", "items": { "type": "string" } },
                        "may": { "type": "array", "items": { "type": "string", "enum": ["anyone", "dispatch", "exceptions", "warehouse", "audit", "admin"] } }
                    } })), "401": err("Not signed in") }
                },
                "delete": {
                    "summary": "Sign out (ends the session)",
                    "responses": { "204": { "description": "Signed out" }, "401": err("Not signed in") }
                }
            }),
        ),
        (
            "/api/audit",
            json!({
                "get": {
                    "summary": "Who did what in the office and when, newest first",
                    "description": "Every request but reads (refused ones too), signing in, and users added, removed or given a role on the command line (by `cli`). A page holds `limit` entries (50 by default, at most 500) numbered below `before`; `next` is the `before` of the next, older page, or null at the oldest.",
                    "parameters": [
                        { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 500 } },
                        { "name": "before", "in": "query", "schema": { "type": "integer" } }
                    ],
                    "responses": { "200": ok("A page", json!({ "type": "object", "properties": {
                        "entries": { "type": "array", "items": { "type": "object", "properties": {
                            "id": { "type": "integer" }, "at": { "type": "string", "format": "date-time" },
                            "user": { "type": "string" }, "role": { "type": "string" }, "action": { "type": "string" },
                            "request": { "type": "string" }, "status": { "type": ["integer", "null"] }
                        } } },
                        "next": { "type": ["integer", "null"] }
                    } })), "400": err("limit is out of range"), "401": err("Not signed in") }
                }
            }),
        ),
        (
            "/api/webhooks",
            json!({
                "get": {
                    "summary": "Webhooks with their delivery counts",
                    "responses": { "200": ok("Webhooks", json!({ "type": "array", "items": webhook.clone() })), "401": err("Not signed in") }
                },
                "post": {
                    "summary": "Register a webhook",
                    "description": "Customer notifications (order.confirmed, order.shipped, order.out_for_delivery, order.delivered, order.attempt_failed) are POSTed to it from a durable outbox, with retries and backoff. Headers: Waybill-Delivery (deduplicate by it), Waybill-Topic, Waybill-Signature (t=<unix>,v1=<hex HMAC-SHA256 of \"<t>.<body>\" under the secret). The secret is shown once.",
                    "requestBody": body(json!({ "type": "object", "required": ["url"], "additionalProperties": false,
                        "properties": { "url": { "type": "string", "format": "uri" } } })),
                    "responses": {
                        "201": ok("Registered", json!({ "type": "object", "properties": {
                            "webhook": webhook, "secret": { "type": "string" }, "topics": { "type": "array", "items": { "type": "string" } }
                        }})),
                        "400": err("Not an http(s) URL"), "401": err("Not signed in")
                    }
                }
            }),
        ),
        (
            "/api/webhooks/{id}",
            json!({
                "delete": {
                    "summary": "Remove a webhook and what is still queued for it",
                    "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "integer" } }],
                    "responses": { "204": { "description": "Removed" }, "401": err("Not signed in"), "404": err("No such webhook") }
                }
            }),
        ),
    ]
}

fn err(d: &str) -> Value {
    json!({ "description": d, "content": error_ref()["content"].clone() })
}

fn path_param(name: &str, description: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" }, "description": description })
}

fn object(required: &[&str], properties: Value) -> Value {
    json!({ "type": "object", "required": required, "additionalProperties": false, "properties": properties })
}

fn work() -> Vec<(&'static str, Value)> {
    let loc = || path_param("id", "The location id");
    let bin = json!({ "type": "object", "required": ["id", "walk"], "properties": {
        "id": { "type": "string" }, "walk": { "type": "integer", "description": "Place on the pick walk" } } });
    let balance = json!({ "type": "object", "required": ["bin", "gtin", "quantity"], "properties": {
        "bin": { "type": "string" }, "gtin": { "type": "string" }, "quantity": { "type": "integer" } } });
    let geo = json!({ "type": "object", "required": ["lat", "lon"], "properties": {
        "lat": { "type": "number" }, "lon": { "type": "number" } } });
    vec![
        (
            "/api/orders/import",
            json!({ "post": {
                "summary": "Import orders from CSV",
                "description": "Content-Type text/csv. One row per order line; columns order_id, customer, name, line1, city, postcode, country, gtin, quantity (required) and line2, lat, lon, description, promised, location, signature, photo, age_check, payment, amount_minor, currency, email, tracking_photo. Errors name the row and column (`row 3.quantity`); a bad file takes nothing. Orders already held are left alone.",
                "requestBody": { "required": true, "content": { "text/csv": { "schema": { "type": "string" } } } },
                "responses": {
                    "200": ok("Orders made and already held", json!({ "type": "object", "properties": {
                        "created": { "type": "array", "items": { "type": "string" } },
                        "already_held": { "type": "array", "items": { "type": "string" } } } })),
                    "400": err("A row is invalid"), "401": err("Not signed in"), "415": err("Not text/csv")
                }
            }}),
        ),
        (
            "/api/locations",
            json!({
                "get": { "summary": "Locations with their bins", "responses": { "200": ok("Locations", json!({ "type": "array" })), "401": err("Not signed in") } },
                "post": {
                    "summary": "Create a location with bins and opening stock",
                    "requestBody": body(object(&["id", "name", "bins"], json!({
                        "id": { "type": "string" }, "name": { "type": "string" }, "geo": geo,
                        "bins": { "type": "array", "items": bin }, "opening": { "type": "array", "items": balance } }))),
                    "responses": { "201": ok("Its header", json!({ "type": "object" })), "400": err("A field is invalid"),
                        "401": err("Not signed in"), "409": err("It exists") }
                }
            }),
        ),
        (
            "/api/locations/{id}/receipts",
            json!({ "post": {
                "summary": "Receive stock into a bin",
                "parameters": [loc()],
                "requestBody": body(object(&["bin", "gtin", "quantity"], json!({
                    "bin": { "type": "string" }, "gtin": { "type": "string" }, "quantity": { "type": "integer", "minimum": 1 },
                    "lot": { "type": "string" }, "expiry": { "type": "string", "format": "date" } }))),
                "responses": { "201": ok("The event", json!({ "type": "object" })), "400": err("A field is invalid"), "401": err("Not signed in") }
            }}),
        ),
        (
            "/api/allocate",
            json!({ "post": {
                "summary": "Allocate orders waiting for stock",
                "description": "By promised date, each line to the location that fills most of the order, split across locations when one cannot, backordering what nobody has. Stock is on hand less what open orders hold.",
                "requestBody": body(object(&[], json!({ "orders": { "type": "array", "items": { "type": "string" }, "description": "Only these (default: all waiting)" } }))),
                "responses": { "200": ok("Allocated and backordered, per order", json!({ "type": "object", "properties": {
                    "allocated": { "type": "object" }, "backordered": { "type": "object" } } })),
                    "400": err("An order is not waiting"), "401": err("Not signed in") }
            }}),
        ),
        (
            "/api/locations/{id}/picklists",
            json!({ "post": {
                "summary": "Batch the location's allocated orders into pick lists for its pickers",
                "parameters": [loc()],
                "requestBody": body(object(&["pickers"], json!({
                    "pickers": { "type": "array", "items": { "type": "string" } },
                    "batch_size": { "type": "integer", "minimum": 1, "default": 10 } }))),
                "responses": { "200": ok("Batches: picker, orders, picks in walk order, shortfalls", json!({ "type": "array" })),
                    "400": err("A field is invalid"), "401": err("Not signed in") }
            }}),
        ),
        (
            "/api/locations/{id}/routes",
            json!({ "post": {
                "summary": "Routes for the location's packed orders within promised slots, van capacities and shifts",
                "description": "One route per driver with work (regret insertion, then 2-opt and moves between routes; docs/planning.md). Capacity, shift and max_stops are never exceeded; a slot may be missed where every other order is much longer, and lateness is reported. Packed orders no van can take are listed in unassigned with why (no_coordinates, too_big, no_room) and wait for the next call.",
                "parameters": [loc()],
                "requestBody": body(object(&["drivers", "date"], json!({
                    "drivers": { "type": "array", "items": object(&["device", "van"], json!({
                        "device": { "type": "string" }, "van": { "type": "string" },
                        "shift": object(&["start", "end"], json!({ "start": { "type": "string", "example": "08:00:00" }, "end": { "type": "string", "example": "18:00:00" } })),
                        "capacity": object(&[], json!({ "weight_kg": { "type": "integer", "minimum": 1 }, "volume_l": { "type": "integer", "minimum": 1 }, "packages": { "type": "integer", "minimum": 1 } })) })) },
                    "date": { "type": "string", "format": "date" },
                    "max_stops": { "type": "integer", "minimum": 1, "default": 20 },
                    "service_min": { "type": "integer", "minimum": 0, "default": 3, "description": "Minutes at the door per order" } }))),
                "responses": { "201": ok("Routes made (each header with distance_m, leave, arrivals per stop, late_s, back, load) and unassigned orders", object(&["routes", "unassigned"], json!({
                        "routes": { "type": "array" }, "unassigned": { "type": "array" } }))),
                    "400": err("A field is invalid"), "401": err("Not signed in") }
            }}),
        ),
        (
            "/api/locations/{id}/quotas",
            json!({ "post": {
                "summary": "Set the quota target of an item at a location",
                "description": "Units of the item each device of the role (drivers by default, or pickers: store handhelds) enrolled at the location should hold to promise offline (0 clears it). Connected devices are topped up out of free stock at once, the others when they next connect.",
                "parameters": [loc()],
                "requestBody": body(object(&["gtin", "target"], json!({
                    "gtin": { "type": "string" }, "target": { "type": "integer", "minimum": 0 },
                    "role": { "type": "string", "enum": ["driver", "picker"], "default": "driver" } }))),
                "responses": { "200": ok("The target, and the grants made to connected devices", json!({ "type": "object" })),
                    "400": err("A field is invalid"), "401": err("Not signed in") }
            }}),
        ),
        (
            "/api/locations/{id}/quotas/grant",
            json!({ "post": {
                "summary": "Grant a device a quota of an item, out of free stock",
                "parameters": [loc()],
                "requestBody": body(object(&["device", "gtin", "quantity"], json!({
                    "device": { "type": "string" }, "gtin": { "type": "string" }, "quantity": { "type": "integer", "minimum": 1 } }))),
                "responses": { "201": ok("The quota_granted event", json!({ "type": "object" })),
                    "400": err("A field is invalid, or not that much stock is free"), "401": err("Not signed in") }
            }}),
        ),
        (
            "/api/quotas",
            json!({ "get": {
                "summary": "Each device's quota per location and item",
                "responses": { "200": ok("Quotas", json!({ "type": "array", "items": { "type": "object", "properties": {
                    "location": { "type": "string" }, "device": { "type": "string" }, "gtin": { "type": "string" },
                    "target": { "type": ["integer", "null"] }, "granted": { "type": "integer" }, "sold": { "type": "integer" },
                    "released": { "type": "integer" }, "remaining": { "type": "integer" } } } })),
                    "401": err("Not signed in") }
            }}),
        ),
    ]
}

fn reports() -> Vec<(&'static str, Value)> {
    let epcis = |what: &str| {
        json!({ "get": {
            "summary": format!("EPCIS 2.0 document (JSON-LD) of {what}'s events"),
            "parameters": [path_param("id", "The id")],
            "responses": { "200": { "description": "EPCISDocument", "content": { "application/ld+json": {} } },
                "401": err("Not signed in"), "404": err("No such document") }
        }})
    };
    let rate = json!({ "type": ["number", "null"] });
    vec![
        ("/api/orders/{id}/epcis", epcis("an order")),
        ("/api/locations/{id}/epcis", epcis("a location's current stock epoch")),
        (
            "/api/routes",
            json!({ "get": { "summary": "Routes with progress", "responses": {
            "200": ok("Routes", json!({ "type": "array" })), "401": err("Not signed in") } } }),
        ),
        (
            "/api/map",
            json!({ "get": { "summary": "The map: each route's stops in sequence, its van's last position, and each proof of delivery against its address",
            "description": "From the stored route and order views, in one request. `far` marks proofs farther from their address than the operator's --far-delivery-m; `exception_open` those the fold flagged (delivered_far_from_address, beyond exception_m metres) and nobody resolved. `tiles` is the operator's tile URL template (--map-tiles), or null: draw on a plain background.",
            "responses": {
            "200": ok("The map's data", json!({ "type": "object", "properties": {
                "tiles": { "type": ["string", "null"] }, "far_delivery_m": { "type": "integer" },
                "exception_m": { "type": "integer" },
                "routes": { "type": "array", "items": { "type": "object", "properties": {
                    "id": { "type": "string" }, "driver": { "type": "string" }, "van": { "type": "string" },
                    "done": { "type": "integer" }, "next_stop": { "type": ["integer", "null"] },
                    "stops": { "type": "array", "items": { "type": "object", "properties": {
                        "seq": { "type": "integer" }, "state": { "type": "string" },
                        "orders": { "type": "array", "items": { "type": "string" } },
                        "address": { "type": "string" }, "geo": { "type": ["object", "null"] } } } },
                    "van_position": { "type": ["object", "null"], "description": "{geo, at, event, stop}: the latest event with GPS" },
                    "proofs": { "type": "array", "items": { "type": "object", "properties": {
                        "order": { "type": "string" }, "event": { "type": "string" },
                        "stop": { "type": ["integer", "null"] }, "at": { "type": "string" },
                        "gps": { "type": "object" }, "address_geo": { "type": ["object", "null"] },
                        "distance_m": { "type": ["integer", "null"] }, "far": { "type": "boolean" },
                        "exception_open": { "type": "boolean" } } } } } } } } })),
            "401": err("Not signed in") } } }),
        ),
        (
            "/api/metrics",
            json!({ "get": { "summary": "Order accuracy, on-time delivery, pick rate, short-pick, failed-attempt and return rates",
            "description": "Summed in one query from each order's share, stored with the order's projection as its events arrive.",
            "responses": {
            "200": ok("Metrics (null: nothing to count)", json!({ "type": "object", "properties": {
                "orders": { "type": "integer" }, "delivered": { "type": "integer" },
                "order_accuracy": rate, "on_time_delivery": rate, "pick_rate_per_hour": rate,
                "short_pick_rate": rate, "failed_attempt_rate": rate, "return_rate": rate,
                "average_rating": rate, "ratings": { "type": "integer" } } })),
            "401": err("Not signed in") } } }),
        ),
        (
            "/metrics",
            json!({ "get": { "summary": "For operators: Prometheus text (sync sessions, changes stored, refusals, push latency, outbox depth, orders by status, open exceptions)",
            "description": "Outside /api, signed in the same way: the service token as a bearer token (what a Prometheus scrape config sends), or an office session. docs/operations.md lists the series.",
            "responses": { "200": { "description": "Prometheus text format 0.0.4", "content": { "text/plain": {} } },
                "401": err("Not signed in") } } }),
        ),
        (
            "/api/blobs/{hash}",
            json!({ "get": { "summary": "A proof photo or signature",
            "parameters": [path_param("hash", "sha256:<64 hex digits>")],
            "responses": { "200": { "description": "The image" }, "400": err("Not a blob hash"),
                "401": err("Not signed in"), "404": err("Not held (yet)") } } }),
        ),
    ]
}

fn core() -> Value {
    // An open exception's decision that fits its kind, and one of its
    // events in words.
    let fitting_decision = json!({ "type": "object", "properties": {
        "decision": { "type": "string", "examples": ["accept"] },
        "words": { "type": "string" }
    }});
    let event_in_words = json!({ "type": "object", "properties": {
        "event": { "type": "string", "examples": ["hh-1:4"] },
        "device": { "type": "string", "examples": ["hh-1"] },
        "role": { "type": ["string", "null"], "examples": ["picker"] },
        "by": { "type": ["string", "null"] },
        "at": { "type": ["string", "null"], "format": "date-time", "description": "The device's time" },
        "what": { "type": "string", "examples": ["picked"] }
    }});
    let timeline_entry = json!({
        "type": "object",
        "properties": {
            "id": { "type": "string" }, "type": { "type": "string" },
            "hlc": { "type": "object" }, "at": { "type": "string", "format": "date-time" },
            "by": { "type": "string" }, "voided_by": { "type": "string" },
            "received_at": { "type": ["string", "null"], "format": "date-time", "description": "When the event first reached the server" }
        }
    });
    let reason = json!({
        "type": "object", "required": ["reason"], "additionalProperties": false,
        "properties": { "reason": { "type": "string", "minLength": 1 } }
    });
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Waybill office API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Orders, exceptions, devices and stock of a Waybill sync server. Sign in with POST /api/session; every other /api route needs the session (cookie `waybill_session`, or `Authorization: Bearer <session token>`) or the server's service token as a bearer token. Errors are `{\"error\", \"field\"}` with a 4xx status; a refused request writes nothing."
        },
        "security": [{ "bearer": [] }],
        "paths": {
            "/api/orders": {
                "get": {
                    "summary": "List orders, a page at a time",
                    "description": "Orders by id, `limit` to a page (100 unless said, at most 1000), those after the id `after` (keyset paging: pass the `Waybill-Next` header of the previous page). `q` matches a prefix of the order id (as typed, or in capitals) or a prefix of the customer's name in any case: prefixes, so a search reads an index range, not every order. `status` and `q` together match both.",
                    "parameters": [
                        { "name": "status", "in": "query", "required": false,
                          "schema": { "type": "string", "enum": super::STATUSES } },
                        { "name": "q", "in": "query", "required": false, "schema": { "type": "string" },
                          "description": "A prefix of the order id or of the customer's name" },
                        { "name": "limit", "in": "query", "required": false,
                          "schema": { "type": "integer", "minimum": 1, "maximum": super::ORDERS_MAX_PAGE, "default": super::ORDERS_PAGE } },
                        { "name": "after", "in": "query", "required": false, "schema": { "type": "string" },
                          "description": "The last id of the previous page" }
                    ],
                    "responses": {
                        "200": {
                            "description": "A page of orders",
                            "headers": {
                                super::NEXT_HEADER: { "description": "`after` for the next page; absent on the last page", "schema": { "type": "string" } },
                                super::TOTAL_HEADER: { "description": "How many orders match, on every page", "schema": { "type": "integer" } }
                            },
                            "content": { "application/json": { "schema": { "type": "array", "items": reference("OrderSummary") } } }
                        },
                        "400": err("Unknown status, or a limit out of range"),
                        "401": err("Not signed in"),
                    }
                },
                "post": {
                    "summary": "Create an order",
                    "description": "The same Idempotency-Key again returns the order it made (200), without making another.",
                    "parameters": [{
                        "name": "Idempotency-Key", "in": "header", "required": true,
                        "schema": { "type": "string", "minLength": 1, "maxLength": crate::office::MAX_KEY_LEN }
                    }],
                    "requestBody": body(reference("NewOrder")),
                    "responses": {
                        "201": ok("Created", reference("OrderView")),
                        "200": ok("Made earlier with this key", reference("OrderView")),
                        "400": err("Missing key or an invalid field"),
                        "401": err("Not signed in"),
                        "409": err("An order with this id exists, made under another key"),
                        "415": err("The body is not application/json"),
                    }
                }
            },
            "/api/orders/{id}": {
                "get": {
                    "summary": "An order's merged view: status, lines, packages, proofs, exceptions, timeline",
                    "parameters": [order_id_param()],
                    "responses": {
                        "200": ok("The view", reference("OrderView")),
                        "400": err("Invalid id"),
                        "401": err("Not signed in"),
                        "404": err("No such order"),
                    }
                }
            },
            "/api/orders/{id}/hold": order_action("Hold an order", Some(reason.clone())),
            "/api/orders/{id}/release": order_action("Release a hold", None),
            "/api/orders/{id}/cancel": order_action("Cancel an order", Some(reason)),
            "/api/orders/{id}/address": order_action("Amend the ship-to address", Some(json!({
                "type": "object", "required": ["ship_to"], "additionalProperties": false,
                "properties": { "ship_to": reference("Address") }
            }))),
            "/api/exceptions": {
                "get": {
                    "summary": "Open exceptions, in words: title, explanation, the decisions that fit the kind, the document named, each event as device, role, time and what happened",
                    "responses": {
                        "200": ok("Exceptions", json!({ "type": "array", "items": {
                            "type": "object",
                            "properties": {
                                "doc": { "type": "string" }, "id": { "type": "string" },
                                "kind": { "type": "string" },
                                "events": { "type": "array", "items": { "type": "string" } },
                                "detail": { "type": "object" },
                                "title": { "type": "string", "examples": ["Stock below zero"] },
                                "explanation": { "type": "string" },
                                "document": { "type": "string", "examples": ["order SO-1001", "stock at wh-north", "route R-7"] },
                                "decisions": { "type": "array", "items": fitting_decision },
                                "happened": { "type": "array", "items": event_in_words }
                            }
                        }})),
                        "401": err("Not signed in"),
                    }
                }
            },
            "/api/exceptions/resolve": {
                "post": {
                    "summary": "Resolve an exception: an exception_resolved event from the office",
                    "requestBody": body(json!({
                        "type": "object", "required": ["doc", "exception", "events", "decision"],
                        "additionalProperties": false,
                        "properties": {
                            "doc": { "type": "string", "examples": ["order/SO-1001"] },
                            "exception": { "type": "string" },
                            "events": { "type": "array", "minItems": 1, "items": { "type": "string", "examples": ["hh-1:4"] } },
                            "decision": { "type": "string", "enum": ["accept", "voided", "restock", "refund", "redeliver", "write_off"] },
                            "note": { "type": "string" }
                        }
                    })),
                    "responses": {
                        "200": ok("The event written", json!({ "type": "object", "properties": {
                            "doc": { "type": "string" }, "event": { "type": "object" }
                        }})),
                        "400": err("A field is invalid, the exception names no kind, or the decision does not fit its kind (the error names those that do)"),
                        "401": err("Not signed in"),
                        "404": err("No such document"),
                    }
                }
            },
            "/api/devices": {
                "get": {
                    "summary": "Devices",
                    "responses": {
                        "200": ok("Devices", json!({ "type": "array", "items": reference("Device") })),
                        "401": err("Not signed in"),
                    }
                },
                "post": {
                    "summary": "Enrol a device: returns its one-time code (shown once) and the fingerprint to pin",
                    "requestBody": body(json!({
                        "type": "object", "required": ["device", "role"], "additionalProperties": false,
                        "properties": {
                            "device": { "type": "string" },
                            "role": { "type": "string", "enum": ["picker", "packer", "driver", "office"] },
                            "location": { "type": "string", "description": "Required for pickers and packers" }
                        }
                    })),
                    "responses": {
                        "201": ok("The code", json!({ "type": "object", "properties": {
                            "device": { "type": "string" }, "role": { "type": "string" },
                            "location": { "type": ["string", "null"] },
                            "code": { "type": "string" }, "fingerprint": { "type": "string" },
                            "expires_in_hours": { "type": "integer" }
                        }})),
                        "400": err("A field is invalid"),
                        "401": err("Not signed in"),
                    }
                }
            },
            "/api/devices/{id}/revoke": {
                "post": {
                    "summary": "Revoke a device at once (also mid-connection)",
                    "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }],
                    "responses": {
                        "200": ok("Revoked", json!({ "type": "object", "properties": {
                            "device": { "type": "string" }, "revoked_at": { "type": "string", "format": "date-time" }
                        }})),
                        "401": err("Not signed in"),
                        "404": err("No such device"),
                    }
                }
            },
            "/api/events": {
                "get": {
                    "summary": "Server-sent events: `changed` with a document id whenever a document changes",
                    "description": "The page's EventSource signs in with the session cookie.",
                    "responses": {
                        "200": { "description": "An event stream", "content": { "text/event-stream": {} } },
                        "401": err("Not signed in"),
                    }
                }
            },
            "/api/stock": {
                "get": {
                    "summary": "Stock on hand per location, bin and item",
                    "responses": {
                        "200": ok("Stock", json!({ "type": "array", "items": {
                            "type": "object",
                            "properties": {
                                "location": { "type": "string" }, "bin": { "type": "string" },
                                "gtin": { "type": "string" }, "on_hand": { "type": "integer" }
                            }
                        }})),
                        "401": err("Not signed in"),
                    }
                }
            }
        },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Error": {
                    "type": "object", "required": ["error", "field"],
                    "properties": {
                        "error": { "type": "string" },
                        "field": { "type": ["string", "null"], "description": "The field at fault, as a path (lines[0].quantity), or a header name" }
                    }
                },
                "Address": {
                    "type": "object", "required": ["name", "line1", "city", "postcode", "country"],
                    "additionalProperties": false,
                    "properties": {
                        "name": { "type": "string" }, "line1": { "type": "string" }, "line2": { "type": "string" },
                        "city": { "type": "string" }, "postcode": { "type": "string" },
                        "country": { "type": "string", "pattern": "^[A-Z]{2}$" }
                    }
                },
                "OrderLine": {
                    "type": "object", "required": ["line", "gtin", "description", "quantity"],
                    "properties": {
                        "line": { "type": "integer", "minimum": 0 },
                        "gtin": { "type": "string", "description": "GS1 GTIN with a valid check digit" },
                        "description": { "type": "string" },
                        "quantity": { "type": "integer", "minimum": 1 }
                    }
                },
                "NewOrder": {
                    "type": "object", "required": ["id", "customer", "ship_to", "lines"],
                    "additionalProperties": false,
                    "properties": {
                        "id": { "type": "string" },
                        "customer": { "type": "string", "minLength": 1 },
                        "ship_to": reference("Address"),
                        "lines": { "type": "array", "minItems": 1, "items": reference("OrderLine") },
                        "promised": { "type": "string", "format": "date" },
                        "slot": object(&["from", "to"], json!({ "from": { "type": "string", "example": "09:00:00" }, "to": { "type": "string", "example": "11:00:00" } })),
                        "location": { "type": "string" },
                        "proof": { "type": "object", "properties": {
                            "signature": { "type": "boolean" }, "photo": { "type": "boolean" }, "age_check": { "type": "boolean" }
                        }},
                        "payment": reference("PaymentTerms"),
                        "email": { "type": "string", "format": "email", "description": "The customer's address for notifications (confirmed, shipped, out for delivery with the ETA, delivered, failed attempts, returns and refunds), each with the tracking link. Kept on the server only: devices never hold it" },
                        "tracking_photo": { "type": "boolean", "default": false, "description": "Whether the customer's tracking page may show the photo taken at delivery (kept on the server, as email)" },
                        "created_at": { "type": "string", "format": "date-time", "description": "Defaults to now" }
                    }
                },
                "PaymentTerms": {
                    "description": "How the order is paid (default on_account). A prepaid order is held, and not allocated, until its payment is authorised (POST /api/orders/{id}/payment). An order paid on delivery cannot be handed over without the driver recording what was collected; less than due is a short_collection exception.",
                    "oneOf": [
                        { "type": "object", "required": ["terms"], "properties": { "terms": { "const": "on_account" } } },
                        { "type": "object", "required": ["terms"], "properties": { "terms": { "const": "prepaid" } } },
                        { "type": "object", "required": ["terms", "amount_minor", "currency"], "properties": {
                            "terms": { "const": "on_delivery" },
                            "amount_minor": { "type": "integer", "minimum": 1, "description": "Amount due at the door, in minor units (cents)" },
                            "currency": { "type": "string", "pattern": "^[A-Z]{3}$", "description": "ISO 4217, such as EUR" } } }
                    ]
                },
                "OrderSummary": {
                    "type": "object",
                    "properties": {
                        "id": { "type": "string" },
                        "status": { "type": "string", "enum": super::STATUSES },
                        "customer": { "type": "string" },
                        "open_exceptions": { "type": "integer" },
                        "updated_at": { "type": "string", "format": "date-time" }
                    }
                },
                "OrderView": {
                    "type": "object",
                    "description": "The fold of the order's header and events",
                    "properties": {
                        "header": { "type": "object" },
                        "status": { "type": "string", "enum": super::STATUSES },
                        "ship_to": reference("Address"),
                        "held": { "type": "boolean" },
                        "cancelled": { "type": "boolean" },
                        "lines": { "type": "array", "items": { "type": "object" } },
                        "packages": { "type": "array", "items": { "type": "object" } },
                        "proofs": { "type": "array", "items": { "type": "object" } },
                        "pickers": { "type": "array", "items": { "type": "object" } },
                        "exceptions": { "type": "array", "items": { "type": "object" } },
                        "timeline": { "type": "array", "items": timeline_entry }
                    }
                },
                "Device": {
                    "type": "object",
                    "properties": {
                        "id": { "type": "string" }, "role": { "type": "string" },
                        "location": { "type": ["string", "null"] },
                        "enrolled_at": { "type": ["string", "null"] },
                        "revoked_at": { "type": ["string", "null"] },
                        "last_seen": { "type": ["string", "null"] }
                    }
                }
            }
        }
    })
}

fn payment() -> Vec<(&'static str, Value)> {
    let money = |what: &str| {
        json!({
            "amount_minor": { "type": "integer", "minimum": 0, "description": format!("{what}, in minor units (cents)") },
            "currency": { "type": "string", "pattern": "^[A-Z]{3}$", "description": "ISO 4217, such as EUR" }
        })
    };
    let line = json!({ "type": "object", "properties": {
        "route": { "type": "string" }, "driver": { "type": "string" }, "van": { "type": "string" },
        "currency": { "type": "string" },
        "expected_minor": { "type": "integer", "description": "Cash the route's deliveries collected (method cash only)" },
        "handed_in_minor": { "type": "integer" },
        "difference_minor": { "type": "integer", "description": "Handed in less expected: below zero when cash is missing" },
        "handed_in": { "type": "boolean", "description": "Whether a handover was recorded for the route" },
        "open_exception": { "type": ["string", "null"], "description": "cash_difference:<currency> while open" } } });
    let mut report = money("Amount");
    report["step"] = json!({ "type": "string", "enum": ["authorised", "captured"], "default": "authorised" });
    report["reference"] = json!({ "type": "string", "minLength": 1, "maxLength": crate::payment::MAX_REFERENCE_LEN,
        "description": "The payment provider's reference: the same reference again records nothing" });
    let mut handover = money("Cash counted in (0: none)");
    handover["note"] = json!({ "type": "string" });
    let return_line = json!({ "type": "object", "required": ["line", "gtin", "quantity"], "properties": {
        "line": { "type": "integer" }, "gtin": { "type": "string" }, "quantity": { "type": "integer", "minimum": 1 } } });
    vec![
        (
            "/api/orders/{id}/returns",
            json!({ "post": {
                "summary": "Authorise a return under an RMA number",
                "description": "An office event (return_authorised). It settles the return the customer asked for on the tracking page that it names, or the oldest waiting for exactly these lines (its return_requested exception goes); the goods are then received by a device (return_received, with a disposition) and refunded (POST /api/orders/{id}/refund).",
                "parameters": [order_id_param()],
                "requestBody": body(object(&["rma", "lines"], json!({
                    "rma": { "type": "string", "minLength": 1, "maxLength": 64 },
                    "lines": { "type": "array", "minItems": 1, "items": return_line },
                    "request": { "type": "string", "description": "The customer's return_requested event it answers (return_requests[].event in the order's view); without it, the oldest request waiting for exactly these lines" } }))),
                "responses": {
                    "200": ok("The order's view", reference("OrderView")),
                    "400": err("A field is invalid"),
                    "401": err("Not signed in"), "403": err("Not a dispatcher or admin"), "404": err("No such order")
                }
            }}),
        ),
        (
            "/api/orders/{id}/refund",
            json!({ "post": {
                "summary": "Record a refund to the customer",
                "description": "An office event (refund_recorded); the customer is told by email.",
                "parameters": [order_id_param()],
                "requestBody": body(object(&["amount_minor", "currency"], json!({
                    "rma": { "type": "string" },
                    "amount_minor": { "type": "integer", "minimum": 1, "description": "In minor units (cents)" },
                    "currency": { "type": "string", "pattern": "^[A-Z]{3}$" } }))),
                "responses": {
                    "200": ok("The order's view", reference("OrderView")),
                    "400": err("A field is invalid"),
                    "401": err("Not signed in"), "403": err("Not a dispatcher or admin"), "404": err("No such order")
                }
            }}),
        ),
        (
            "/api/orders/{id}/tracking/revoke",
            json!({ "post": {
                "summary": "Revoke an order's customer tracking link",
                "description": "An office event (tracking_revoked): the link the customer has stops working at once, on every node, and the order's view gives a new one in `tracking`. Tracking pages are served outside the API, without sign-in, at /track/{order}/{key}.",
                "parameters": [order_id_param()],
                "requestBody": { "required": false, "content": { "application/json": { "schema":
                    object(&[], json!({ "reason": { "type": "string" } })) } } },
                "responses": {
                    "200": ok("The order's view, with its new tracking link", reference("OrderView")),
                    "401": err("Not signed in"), "403": err("Not a dispatcher or admin"), "404": err("No such order")
                }
            }}),
        ),
        (
            "/api/orders/{id}/payment",
            json!({ "post": {
                "summary": "Record a prepaid order's payment authorisation (or capture)",
                "description": "An office event. The authorisation lifts the hold on a prepaid order, which can then be allocated. Idempotent by reference: the same reference (and step) again writes nothing and answers 200. A capture needs the authorisation of its reference first. Only prepaid orders take payments.",
                "parameters": [order_id_param()],
                "requestBody": body(object(&["reference", "amount_minor", "currency"], report)),
                "responses": {
                    "201": ok("Recorded: the order's view", reference("OrderView")),
                    "200": ok("Already recorded: the order's view, unchanged", reference("OrderView")),
                    "400": err("A field is invalid, or the order is not prepaid"),
                    "401": err("Not signed in"), "403": err("Not a dispatcher or admin"), "404": err("No such order")
                }
            }}),
        ),
        (
            "/api/routes/{id}/cash",
            json!({ "post": {
                "summary": "Record cash a route's driver handed in at the depot",
                "description": "An office event on the route; handovers add up. Once one is recorded, a currency whose cash handed in differs from what the route's deliveries collected in cash is an exception, cash_difference:<currency>.",
                "parameters": [path_param("id", "The route id")],
                "requestBody": body(object(&["amount_minor", "currency"], handover)),
                "responses": {
                    "201": ok("The route's reconciliation", json!({ "type": "object", "properties": {
                        "route": { "type": "string" }, "cash": { "type": "array", "items": line.clone() } } })),
                    "400": err("A field is invalid"), "401": err("Not signed in"),
                    "403": err("Not a dispatcher or admin"), "404": err("No such route")
                }
            }}),
        ),
        (
            "/api/routes/{id}/stops",
            json!({ "post": {
                "summary": "Add a packed order to a route, on the road or not",
                "description": "The order becomes a new stop where it costs least from the van's last known position (or the depot) now: stops done and the order of the rest stay as they are, and the van's capacity and the driver's shift as planned are kept. An office event stop_inserted on the route; the driver's device shows the stop when it next syncs.",
                "parameters": [path_param("id", "The route id")],
                "requestBody": body(object(&["order"], json!({ "order": { "type": "string" } }))),
                "responses": {
                    "201": ok("The new stop", object(&["route", "seq", "order", "arrival", "late_s", "back"], json!({
                        "route": { "type": "string" }, "seq": { "type": "integer" }, "order": { "type": "string" },
                        "before": { "type": ["integer", "null"], "description": "The stop it comes before; null when last" },
                        "arrival": { "type": "string" }, "late_s": { "type": "integer" }, "back": { "type": "string" } }))),
                    "400": err("The order is not packed, is on a route, or does not fit the van or shift"),
                    "401": err("Not signed in"), "403": err("Not a dispatcher or admin"), "404": err("No such route")
                }
            }}),
        ),
        (
            "/api/cash",
            json!({ "get": {
                "summary": "Cash reconciliation: per route and currency, cash collected at the door against cash handed in",
                "responses": { "200": ok("One line per route and currency", json!({ "type": "array", "items": line })),
                    "401": err("Not signed in") }
            }}),
        ),
    ]
}
