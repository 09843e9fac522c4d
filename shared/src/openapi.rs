//! Schemas for the server's OpenAPI description (feature `openapi`). The
//! types that derive their serde also derive their schema where they are
//! declared; these are the ones with serde written by hand: they travel
//! as text (ids, event ids, blob hashes) or as degrees (geo).

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::blob::BlobHash;
use crate::doc::DocId;
use crate::event_id::EventId;
use crate::geo::Geo;
use crate::id::{BinId, DeviceId, LocationId, OrderId, RouteId, VanId};

macro_rules! text {
    ($($ty:ty => $description:literal, $example:literal;)*) => {$(
        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some($description))
                    .examples([$example])
                    .into()
            }
        }
        impl ToSchema for $ty {}
    )*};
}

text! {
    DeviceId => "An enrolled device", "hh-1";
    OrderId => "A customer order", "SO-1001";
    LocationId => "A stock-holding location: a warehouse, a store, a depot", "wh-north";
    BinId => "A bin inside a location", "A-01";
    RouteId => "A driver's run", "R-7";
    VanId => "A delivery vehicle", "van-3";
    DocId => "A document: an order, a location's stock epoch, a route", "order/SO-1001";
    EventId => "An event: the device that wrote it and its number there", "hh-1:4";
    BlobHash => "A proof photo or signature: sha256 of its bytes", "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
}

impl PartialSchema for Geo {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .property(
                "lat",
                ObjectBuilder::new().schema_type(Type::Number).minimum(Some(-90.0)).maximum(Some(90.0)),
            )
            .property(
                "lon",
                ObjectBuilder::new().schema_type(Type::Number).minimum(Some(-180.0)).maximum(Some(180.0)),
            )
            .required("lat")
            .required("lon")
            .description(Some("A position in degrees (WGS 84)"))
            .into()
    }
}
impl ToSchema for Geo {}
