#![allow(clippy::unwrap_used)]
//! The office map against a real server and real devices: the demo seed's
//! route R-7, geocoded, goes out; the driver arrives at stop 1 and delivers
//! with GPS 2 km from the address. The order has a
//! `delivered_far_from_address` exception, and `GET /api/map` gives the
//! route's stops in order with their points, the van's last position (the
//! delivery's GPS), and the proof against its address, highlighted as far.

use waybill_tests::{SEED_GEO, Server, api, free_port, free_tcp_port, geocoded_seed, out_for_delivery};

#[test]
fn a_delivery_far_from_its_address_is_an_exception_and_on_the_map() {
    let dir = tempfile::tempdir().unwrap();
    let http = free_tcp_port();
    let server = Server::start_serving(
        &dir.path().join("server"),
        free_port(),
        Some(http),
        &["--far-delivery-m", "1000", "--map-tiles", "https://tile.example/{z}/{x}/{y}.png"],
    );
    server.ok(&["import", geocoded_seed(dir.path()).to_str().unwrap()]);
    let driver = out_for_delivery(dir.path(), &server);
    let (home_lat, home_lon) = SEED_GEO[0];

    // Before any GPS: stops in order with their points, no van position.
    let (status, map) = api(http, "GET", "/api/map", None);
    assert_eq!(status, 200, "{map}");
    assert_eq!(map["tiles"], "https://tile.example/{z}/{x}/{y}.png");
    assert_eq!((map["far_delivery_m"].as_u64(), map["exception_m"].as_u64()), (Some(1000), Some(500)));
    let route = &map["routes"][0];
    assert_eq!(route["id"], "R-7");
    let stops: Vec<_> = route["stops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["seq"].clone(), s["geo"]["lat"].clone()))
        .collect();
    assert_eq!(stops, [(1.into(), SEED_GEO[0].0.into()), (2.into(), SEED_GEO[1].0.into())]);
    assert!(route["van_position"].is_null(), "{route}");

    // At the door, then 2 km north of it (0.018° of latitude) for the proof.
    let here = format!("{home_lat},{home_lon}");
    driver.ok(&["arrive", "--route", "R-7", "--stop", "1", "--gps", &here]);
    let away = format!("{},{home_lon}", home_lat + 0.018);
    let (photo, signature) = (dir.path().join("door.jpg"), dir.path().join("sig.png"));
    std::fs::write(&photo, b"jpeg bytes").unwrap();
    std::fs::write(&signature, b"png bytes").unwrap();
    waybill_tests::deliver_at(&driver, &photo, &signature, Some(&away));
    driver.sync();

    let order = server.order("SO-1001");
    let far: Vec<_> = order["exceptions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "delivered_far_from_address")
        .collect();
    assert_eq!(far.len(), 1, "{order}");
    let distance = far[0]["distance_m"].as_u64().unwrap();
    assert!((1_950..=2_050).contains(&distance), "{distance}");
    assert!(
        server
            .open_exceptions()
            .keys()
            .any(|(doc, id)| doc == "order/SO-1001" && id.starts_with("delivered_far_from_address:"))
    );

    let (_, map) = api(http, "GET", "/api/map", None);
    let route = &map["routes"][0];
    assert_eq!(route["stops"][0]["state"], "delivered", "{route}");
    let van = &route["van_position"];
    assert_eq!(
        (van["stop"].as_u64(), van["geo"]["lat"].as_f64()),
        (Some(1), Some(home_lat + 0.018)),
        "{van}"
    );
    let proofs = route["proofs"].as_array().unwrap();
    assert_eq!(proofs.len(), 1, "{route}");
    let p = &proofs[0];
    assert_eq!((&p["order"], p["stop"].as_u64()), (&"SO-1001".into(), Some(1)));
    assert_eq!(p["distance_m"].as_u64(), Some(distance));
    assert_eq!(p["address_geo"]["lat"].as_f64(), Some(home_lat));
    assert_eq!((&p["far"], &p["exception_open"]), (&true.into(), &true.into()), "{p}");

    // The page lets the tiles' origin through its Content-Security-Policy.
    let page = reqwest::blocking::get(format!("http://127.0.0.1:{http}/")).unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("img-src 'self' data: https://tile.example;"), "{csp}");
    assert!(page.text().unwrap().contains("id=\"map\""));
}
