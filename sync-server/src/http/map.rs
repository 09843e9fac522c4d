//! The office map's data, `GET /api/map`, in one request: each route's
//! stops in sequence with their points and states, where its van was last
//! seen, and each proof of delivery's position against its address.
//!
//! Read from the stored route and order views (one snapshot), not by
//! folding documents. The page draws it as inline SVG over a plain
//! background, so it works with no internet; an operator may name a tile
//! server (`serve --map-tiles`) to draw under it ([`MapSettings`]).
//!
//! Whether a delivery is far from its address is the fold's exception
//! (`delivered_far_from_address`, beyond the shared constant
//! [`FAR_DELIVERY_M`], the same on every replica). The operator's
//! `--far-delivery-m` only sets which proofs the map highlights (`far`):
//! a depot in the country may want fewer, one in town more.

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use serde::Serialize;
use serde_json::Value;
use waybill_shared::fold::exception::FAR_DELIVERY_M;
use waybill_shared::geo::Geo;

use super::{ApiResult, App};
use crate::storage::{Row, StorageError};

/// How the operator set up the map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapSettings {
    tiles: Option<String>,
    far_delivery_m: u32,
}

impl Default for MapSettings {
    fn default() -> Self {
        Self { tiles: None, far_delivery_m: FAR_DELIVERY_M }
    }
}

/// A map setting the server cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapSettingsError {
    /// The tile address is not an http(s) URL template with `{z}`, `{x}`
    /// and `{y}`, or has characters a Content-Security-Policy cannot hold.
    #[error(
        "--map-tiles {0:?} is not a tile address: give an http(s) URL with {{z}}, {{x}} and {{y}}, \
         e.g. https://tile.example/{{z}}/{{x}}/{{y}}.png"
    )]
    Tiles(String),
    /// The highlighting distance is zero.
    #[error("--far-delivery-m must be at least 1 metre")]
    Distance,
}

impl MapSettings {
    /// Tiles from `tiles` (`https://host/{z}/{x}/{y}.png`; none: a plain
    /// background), and proofs more than `far_delivery_m` metres from their
    /// address highlighted.
    pub fn new(tiles: Option<String>, far_delivery_m: u32) -> Result<Self, MapSettingsError> {
        if far_delivery_m == 0 {
            return Err(MapSettingsError::Distance);
        }
        if let Some(t) = &tiles {
            let ok = (t.starts_with("https://") || t.starts_with("http://"))
                && ["{z}", "{x}", "{y}"].iter().all(|p| t.contains(p))
                && !t
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || matches!(c, ';' | ',' | '\'' | '"'))
                && origin(t).is_some_and(|o| o.len() > "https://".len());
            if !ok {
                return Err(MapSettingsError::Tiles(t.clone()));
            }
        }
        Ok(Self { tiles, far_delivery_m })
    }

    /// The origin tiles come from, for the page's Content-Security-Policy
    /// (`img-src`); `None` without tiles.
    pub fn tile_origin(&self) -> Option<&str> {
        self.tiles.as_deref().and_then(origin)
    }
}

/// `scheme://host[:port]` of a URL.
fn origin(url: &str) -> Option<&str> {
    let after = url.find("://")? + 3;
    let end = url[after..].find('/').map_or(url.len(), |i| after + i);
    let host = &url[after..end];
    (!host.is_empty() && !host.contains('{') && !host.contains('@')).then_some(&url[..end])
}

/// The whole map.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct MapData {
    /// The tile URL template, if the operator set one.
    tiles: Option<String>,
    /// Proofs farther than this from their address are highlighted.
    far_delivery_m: u32,
    /// The fold's limit for `delivered_far_from_address`.
    exception_m: u32,
    routes: Vec<MapRoute>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct MapRoute {
    id: Value,
    driver: Value,
    van: Value,
    done: Value,
    next_stop: Value,
    stops: Vec<MapStop>,
    /// The route view's `last_position`: `{geo, at, event, stop}`.
    van_position: Value,
    proofs: Vec<MapProof>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct MapStop {
    seq: Value,
    state: Value,
    orders: Value,
    /// `line1, city`.
    address: String,
    geo: Value,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct MapProof {
    order: Value,
    event: Value,
    /// The stop whose packages it handed over, if the route has it.
    stop: Option<u64>,
    at: Value,
    /// Where the device was (`{lat, lon, accuracy_m}`).
    gps: Value,
    /// The point of the order's address in force.
    address_geo: Value,
    /// Metres between them, if both are known.
    distance_m: Option<u32>,
    /// Farther than the operator's `far_delivery_m`.
    far: bool,
    /// The fold raised `delivered_far_from_address` for it, and it is open.
    exception_open: bool,
}

fn parse(row: &Row, column: usize) -> Result<Value, StorageError> {
    let text: String = row.get(column)?;
    serde_json::from_str(&text).map_err(|e| StorageError::Corrupt(format!("a stored view: {e}")))
}

fn geo(v: &Value) -> Option<Geo> {
    serde_json::from_value(v.clone()).ok()
}

/// `GET /api/map`.
#[utoipa::path(get, path = "/map", summary = "The map: each route's stops in sequence, its van's last position, and each proof of delivery against its address",
    description = "From the stored route and order views, in one request. `far` marks proofs farther from their address than the operator's --far-delivery-m; `exception_open` those the fold flagged (delivered_far_from_address, beyond exception_m metres) and nobody resolved. `tiles` is the operator's tile URL template (--map-tiles), or null: draw on a plain background.",
    responses((status = 200, description = "The map's data", body = MapData))
)]
pub async fn get_map(State(app): State<App>) -> ApiResult {
    let (routes, orders) = app.shared.storage.map_rows().await?;
    let orders: Vec<(String, Value)> =
        orders.iter().map(|r| Ok((r.get(0)?, parse(r, 1)?))).collect::<Result<_, StorageError>>()?;
    let settings = &app.map;
    let mut out = Vec::with_capacity(routes.len());
    for row in &routes {
        let id: String = row.get(0)?;
        let view = parse(row, 1)?;
        let stops: &[Value] = view["stops"].as_array().map_or(&[], Vec::as_slice);
        let mut proofs = Vec::new();
        for (_, order) in orders.iter().filter(|(route, _)| *route == id) {
            proofs.extend(order_proofs(order, stops, settings.far_delivery_m));
        }
        out.push(MapRoute {
            id: view["id"].clone(),
            driver: view["driver"].clone(),
            van: view["van"].clone(),
            done: view["done"].clone(),
            next_stop: view["next_stop"].clone(),
            stops: stops
                .iter()
                .map(|s| MapStop {
                    seq: s["seq"].clone(),
                    state: s["state"].clone(),
                    orders: s["orders"].clone(),
                    address: [&s["address"]["line1"], &s["address"]["city"]]
                        .iter()
                        .filter_map(|v| v.as_str().filter(|t| !t.is_empty()))
                        .collect::<Vec<_>>()
                        .join(", "),
                    geo: s["address"]["geo"].clone(),
                })
                .collect(),
            van_position: view["last_position"].clone(),
            proofs,
        });
    }
    let data = MapData {
        tiles: settings.tiles.clone(),
        far_delivery_m: settings.far_delivery_m,
        exception_m: FAR_DELIVERY_M,
        routes: out,
    };
    Ok(Json(data).into_response())
}

/// An order's proofs that carry GPS, against its address in force.
fn order_proofs(order: &Value, stops: &[Value], far_m: u32) -> Vec<MapProof> {
    let home = &order["ship_to"]["geo"];
    let open_far: Vec<&str> = order["exceptions"]
        .as_array()
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .filter(|e| e["kind"] == "delivered_far_from_address" && e.get("resolution").is_none())
        .filter_map(|e| e["id"].as_str())
        .collect();
    let proofs: &[Value] = order["proofs"].as_array().map_or(&[], Vec::as_slice);
    proofs
        .iter()
        .filter(|p| p["proof"]["gps"].is_object())
        .map(|p| {
            let gps = &p["proof"]["gps"];
            let distance = geo(home).zip(geo(gps)).map(|(a, b)| a.distance_m(&b));
            let packages: &[Value] = p["packages"].as_array().map_or(&[], Vec::as_slice);
            let stop = stops
                .iter()
                .find(|s| s["delivered"].as_array().is_some_and(|d| d.iter().any(|x| packages.contains(x))))
                .and_then(|s| s["seq"].as_u64());
            let event = p["event"].as_str().unwrap_or_default();
            MapProof {
                order: order["header"]["id"].clone(),
                event: p["event"].clone(),
                stop,
                at: p["at"].clone(),
                gps: gps.clone(),
                address_geo: home.clone(),
                // Below 40,000 km, so it fits a u32.
                distance_m: distance.map(|d| d.round() as u32),
                far: distance.is_some_and(|d| d > f64::from(far_m)),
                exception_open: open_far.contains(&format!("delivered_far_from_address:{event}").as_str()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn tile_addresses_are_checked_and_give_their_origin() {
        let s = MapSettings::new(Some("https://tile.example:8443/{z}/{x}/{y}.png".into()), 500).unwrap();
        assert_eq!(s.tile_origin(), Some("https://tile.example:8443"));
        assert_eq!(MapSettings::default().tile_origin(), None);
        for bad in [
            "ftp://tile.example/{z}/{x}/{y}.png",
            "https://tile.example/{z}/{x}.png",
            "https://tile.example/{z}/{x}/{y}.png; script-src *",
            "https://{z}.example/{x}/{y}.png",
            "https:///{z}/{x}/{y}",
        ] {
            assert_eq!(
                MapSettings::new(Some(bad.into()), 500),
                Err(MapSettingsError::Tiles(bad.into())),
                "{bad}"
            );
        }
        assert_eq!(MapSettings::new(None, 0), Err(MapSettingsError::Distance));
    }
}
