//! A point on the Earth, as an address's or a depot's coordinates, and the
//! great-circle distance between two points.
//!
//! Coordinates are held as whole microdegrees (about 11 cm at the equator),
//! not as `f64`: so a [`Geo`] is `Eq`, `Ord` and `Hash` like the rest of an
//! [`crate::doc::order::Address`], and a value read back compares equal to
//! the value written. The JSON form is plain degrees, `{"lat": 51.5074,
//! "lon": -0.1278}`, and round-trips exactly.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Mean Earth radius in metres (IUGG), as used for haversine distances.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// A latitude and longitude (WGS 84), to the microdegree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Geo {
    lat_e6: i32,
    lon_e6: i32,
}

/// Coordinates that are not a point on the Earth.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum GeoError {
    /// The latitude is not a number from -90 to 90.
    #[error("latitude {0} is not a number from -90 to 90")]
    Latitude(f64),
    /// The longitude is not a number from -180 to 180.
    #[error("longitude {0} is not a number from -180 to 180")]
    Longitude(f64),
}

impl Geo {
    /// The point at `lat`, `lon` degrees, rounded to the microdegree.
    pub fn new(lat: f64, lon: f64) -> Result<Self, GeoError> {
        if !(-90.0..=90.0).contains(&lat) {
            return Err(GeoError::Latitude(lat));
        }
        if !(-180.0..=180.0).contains(&lon) {
            return Err(GeoError::Longitude(lon));
        }
        // In range, so the rounded values fit an i32 (at most 180_000_000).
        Ok(Self { lat_e6: (lat * 1e6).round() as i32, lon_e6: (lon * 1e6).round() as i32 })
    }

    /// Latitude in degrees.
    pub fn lat(&self) -> f64 {
        f64::from(self.lat_e6) / 1e6
    }

    /// Longitude in degrees.
    pub fn lon(&self) -> f64 {
        f64::from(self.lon_e6) / 1e6
    }

    /// Great-circle distance to `other` in metres (haversine formula).
    pub fn distance_m(&self, other: &Geo) -> f64 {
        let (lat1, lat2) = (self.lat().to_radians(), other.lat().to_radians());
        let dlat = lat2 - lat1;
        let dlon = (other.lon() - self.lon()).to_radians();
        let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
    }
}

#[derive(Serialize, Deserialize)]
struct Degrees {
    lat: f64,
    lon: f64,
}

impl Serialize for Geo {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Degrees { lat: self.lat(), lon: self.lon() }.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Geo {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Degrees { lat, lon } = Degrees::deserialize(d)?;
        Geo::new(lat, lon).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn known_distance() {
        // London (Trafalgar Square) to Paris (Notre-Dame): about 342 km.
        let london = Geo::new(51.508, -0.128).unwrap();
        let paris = Geo::new(48.853, 2.35).unwrap();
        let d = london.distance_m(&paris);
        assert!((340_000.0..345_000.0).contains(&d), "{d}");
        assert_eq!(london.distance_m(&london), 0.0);
    }

    #[test]
    fn rejects_points_off_the_earth() {
        assert_eq!(Geo::new(91.0, 0.0), Err(GeoError::Latitude(91.0)));
        assert!(matches!(Geo::new(0.0, f64::NAN), Err(GeoError::Longitude(_))));
        assert!(serde_json::from_str::<Geo>(r#"{"lat":0,"lon":200}"#).is_err());
    }

    proptest! {
        #[test]
        fn json_round_trips_exactly(lat in -90_000_000i32..=90_000_000, lon in -180_000_000i32..=180_000_000) {
            let g = Geo { lat_e6: lat, lon_e6: lon };
            let json = serde_json::to_string(&g).unwrap();
            prop_assert_eq!(serde_json::from_str::<Geo>(&json).unwrap(), g);
        }
    }
}
