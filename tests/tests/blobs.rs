//! Blobs over real QUIC: an upload cut mid-blob resumes where the server
//! stopped; bytes that do not hash to the blob's name, or a blob over the
//! size limit, are refused and not stored; a blob goes only to the device
//! that uploaded it and to the office; and a driver's proof of delivery
//! travels with its photo, the order's view showing a missing one until it
//! arrives.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use tempfile::TempDir;
use waybill_shared::blob::BlobHash;
use waybill_shared::sync::download::{ClientDownload, DownloadStep};
use waybill_shared::sync::{Message, RefuseReason};
use waybill_tests::raw::{Client, End, Stream};
use waybill_tests::{Device, SEED, Server};

/// The server's blob limit (`Limits::default().max_blob_bytes`).
const MAX_BLOB: u64 = 16 * 1024 * 1024;
/// Bytes per chunk the tests send.
const CHUNK: usize = 64 * 1024;

fn seeded() -> (TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("server"));
    server.ok(&["import", SEED]);
    (dir, server)
}

/// `n` bytes that differ from run to run of `seed` and do not compress.
fn bytes(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_be_bytes()[1]
        })
        .collect()
}

fn stored(server: &Server, hash: &BlobHash) -> Option<Vec<u8>> {
    server.blob(hash)
}

fn partial(server: &Server, hash: &BlobHash) -> Option<u64> {
    server.blob_partial(hash)
}

/// An enrolled session of `device`: the client and its control stream,
/// which must stay open for the server to accept other streams.
async fn session(server: &Server, device: &Device) -> (Client, Stream) {
    let client = Client::device(server, device).await;
    let (control, _) = client.session().await;
    (client, control)
}

/// Starts an upload: the server's answer to `BlobPut`.
async fn put(client: &Client, hash: BlobHash, size: u64) -> (Stream, Message) {
    let mut stream = client.open().await;
    stream.send(&Message::BlobPut { hash, size }).await;
    let answer = stream.next().await.unwrap();
    (stream, answer)
}

async fn send_chunks(stream: &mut Stream, bytes: &[u8]) {
    for chunk in bytes.chunks(CHUNK) {
        stream.send(&Message::BlobChunk { data: chunk.to_vec() }).await;
    }
}

/// Uploads `bytes` whole under `hash`: the server's last answer.
async fn upload(client: &Client, hash: BlobHash, bytes: &[u8]) -> Message {
    let (mut stream, answer) = put(client, hash, bytes.len() as u64).await;
    let Message::BlobResume { offset } = answer else { return answer };
    send_chunks(&mut stream, &bytes[usize::try_from(offset).unwrap()..]).await;
    stream.next().await.unwrap()
}

/// Downloads a blob from `offset`: its bytes, any other messages, and how
/// the stream ended.
async fn download(client: &Client, hash: BlobHash, offset: u64) -> (Vec<u8>, Vec<Message>, End) {
    let (mut machine, get) = ClientDownload::new(hash, offset);
    let mut stream = client.open().await;
    stream.send(&get).await;
    stream.finish();
    let (msgs, end) = stream.rest().await;
    let mut data = Vec::new();
    let mut other = Vec::new();
    for m in msgs {
        match machine.handle(Some(m.clone())) {
            Ok(DownloadStep::Append(d)) => data.extend_from_slice(&d),
            _ => other.push(m),
        }
    }
    (data, other, end)
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(5), "{what}: not within 5 s");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_cut_mid_blob_resumes_where_the_server_stopped() {
    let (dir, server) = seeded();
    let driver = Device::enrol(dir.path(), &server, "drv-1", "driver", None);
    let blob = bytes(5 * CHUNK + 1000, 7);
    let hash = BlobHash::of(&blob);
    let size = blob.len() as u64;

    // The first link carries three chunks, then drops.
    let (first, _control) = session(&server, &driver).await;
    let (mut stream, answer) = put(&first, hash, size).await;
    assert_eq!(answer, Message::BlobResume { offset: 0 });
    let sent = 3 * CHUNK;
    send_chunks(&mut stream, &blob[..sent]).await;
    wait_until("the server holds the three chunks", || partial(&server, &hash) == Some(sent as u64));
    first.conn.close(0u32.into(), b"link lost");
    drop((stream, first));
    assert_eq!(stored(&server, &hash), None, "half a blob was stored as whole");

    // The next link resumes at what the server holds, and completes it.
    let (second, _control) = session(&server, &driver).await;
    let (mut stream, answer) = put(&second, hash, size).await;
    assert_eq!(answer, Message::BlobResume { offset: sent as u64 });
    send_chunks(&mut stream, &blob[sent..]).await;
    assert_eq!(stream.next().await, Ok(Message::BlobStored { hash }));
    assert_eq!(stream.next().await, Err(End::Finished));
    assert_eq!(stored(&server, &hash).as_deref(), Some(&blob[..]));
    assert_eq!(partial(&server, &hash), None);

    // Asked again, the server holds it all: stored at once.
    let (_stream, answer) = put(&second, hash, size).await;
    assert_eq!(answer, Message::BlobStored { hash });

    // The uploader gets it back, whole or from an offset, hashing to its name.
    let (data, other, end) = download(&second, hash, 0).await;
    assert!(other.is_empty(), "{other:?}");
    assert_eq!(end, End::Finished);
    assert_eq!(BlobHash::of(&data), hash);
    let (data, _, _) = download(&second, hash, 100_000).await;
    assert_eq!(data, &blob[100_000..]);
    let resumed = [&blob[..100_000], &data].concat();
    assert_eq!(ClientDownload::new(hash, 100_000).0.verify(&resumed), Ok(()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_that_do_not_hash_to_the_blobs_name_are_refused_and_not_stored() {
    let (dir, server) = seeded();
    let driver = Device::enrol(dir.path(), &server, "drv-1", "driver", None);
    let (client, _control) = session(&server, &driver).await;
    let claimed = bytes(2 * CHUNK, 1);
    let hash = BlobHash::of(&claimed);
    let mut other = claimed.clone();
    other[CHUNK] ^= 1; // one bit differs

    let answer = upload(&client, hash, &other).await;
    assert!(matches!(answer, Message::Refused { reason: RefuseReason::Malformed, .. }), "{answer:?}");
    assert_eq!(stored(&server, &hash), None);
    assert_eq!(partial(&server, &hash), None, "the bad bytes were kept");
    let (data, refused, _) = download(&client, hash, 0).await;
    assert!(data.is_empty());
    assert!(
        matches!(refused[..], [Message::Refused { reason: RefuseReason::OutOfScope, .. }]),
        "{refused:?}"
    );

    // More bytes than the blob's size.
    let (mut stream, answer) = put(&client, hash, 10).await;
    assert_eq!(answer, Message::BlobResume { offset: 0 });
    stream.send(&Message::BlobChunk { data: vec![0; 11] }).await;
    let answer = stream.next().await.unwrap();
    assert!(matches!(answer, Message::Refused { reason: RefuseReason::Malformed, .. }), "{answer:?}");
    assert_eq!(stored(&server, &hash), None);

    // The right bytes, from the start, are stored.
    assert_eq!(upload(&client, hash, &claimed).await, Message::BlobStored { hash });
    assert_eq!(stored(&server, &hash), Some(claimed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_over_the_size_limit_is_refused() {
    let (dir, server) = seeded();
    let driver = Device::enrol(dir.path(), &server, "drv-1", "driver", None);
    let (client, _control) = session(&server, &driver).await;
    let hash = BlobHash::of(b"a very large photo");
    for size in [MAX_BLOB + 1, u64::MAX] {
        let (mut stream, answer) = put(&client, hash, size).await;
        assert!(
            matches!(answer, Message::Refused { reason: RefuseReason::TooLarge, .. }),
            "{size}: {answer:?}"
        );
        assert_eq!(stream.next().await, Err(End::Finished));
        assert_eq!(partial(&server, &hash), None, "{size}: room was made for it");
    }
    // At the limit, it may come.
    let (_stream, answer) = put(&client, hash, MAX_BLOB).await;
    assert_eq!(answer, Message::BlobResume { offset: 0 });
    assert_eq!(stored(&server, &hash), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_goes_only_to_its_uploader_and_the_office() {
    let (dir, server) = seeded();
    let driver = Device::enrol(dir.path(), &server, "drv-1", "driver", None);
    let picker = Device::enrol(dir.path(), &server, "hh-1", "picker", Some("wh-1"));
    let other_driver = Device::enrol(dir.path(), &server, "drv-2", "driver", None);
    let office = Device::enrol(dir.path(), &server, "of-1", "office", None);
    let photo = bytes(CHUNK + 17, 3);
    let hash = BlobHash::of(&photo);
    let (uploader, _c1) = session(&server, &driver).await;
    assert_eq!(upload(&uploader, hash, &photo).await, Message::BlobStored { hash });

    let never = BlobHash::of(b"never uploaded");
    for (name, device) in [("picker", &picker), ("another driver", &other_driver)] {
        let (client, _control) = session(&server, device).await;
        let mut answers = Vec::new();
        for h in [hash, never] {
            let (data, other, end) = download(&client, h, 0).await;
            assert!(data.is_empty(), "{name} got {} bytes", data.len());
            assert_eq!(end, End::Finished, "{name}");
            let [Message::Refused { reason: RefuseReason::OutOfScope, message }] = &other[..] else {
                panic!("{name}: {other:?}")
            };
            answers.push(message.replace(&h.to_string(), "<blob>"));
        }
        assert_eq!(answers[0], answers[1], "{name}: a stored blob is told apart from a missing one");
    }

    for (name, device) in [("uploader", &driver), ("office", &office)] {
        let (client, _control) = session(&server, device).await;
        let (data, other, end) = download(&client, hash, 0).await;
        assert!(other.is_empty(), "{name}: {other:?}");
        assert_eq!(end, End::Finished, "{name}");
        assert_eq!(BlobHash::of(&data), hash, "{name}");
        assert_eq!(data, photo, "{name}");
    }
}

/// Marks a blob in a device's store as uploaded, so sync leaves it behind:
/// the link that would have carried it never came.
fn withhold(device: &Device, hash: &BlobHash) {
    let c = rusqlite::Connection::open(&device.store).unwrap();
    let n = c.execute("UPDATE blobs SET uploaded = 1 WHERE hash = ?1", [hash.to_string()]).unwrap();
    assert_eq!(n, 1, "the device does not hold {hash}");
}

fn proof_blob_missing(view: &serde_json::Value) -> Vec<String> {
    view["exceptions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "proof_blob_missing" && e.get("resolution").is_none())
        .map(|e| e["blob"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proof_of_delivery_travels_with_its_photo_and_shows_a_missing_one_until_it_arrives() {
    let (dir, server) = seeded();
    let driver = waybill_tests::out_for_delivery(dir.path(), &server);
    let photo = bytes(3 * CHUNK + 5, 11);
    let signature = bytes(2000, 13);
    let (photo_file, signature_file) = (dir.path().join("door.jpg"), dir.path().join("sig.png"));
    std::fs::write(&photo_file, &photo).unwrap();
    std::fs::write(&signature_file, &signature).unwrap();
    waybill_tests::deliver(&driver, &photo_file, &signature_file);
    let (photo_hash, signature_hash) = (BlobHash::of(&photo), BlobHash::of(&signature));
    // The signature's upload does not happen (yet); the photo's does.
    withhold(&driver, &signature_hash);

    let report = driver.sync();
    assert_eq!(report["blobs_uploaded"], 1, "{report}");
    assert_eq!(report["pending_events"], 0, "{report}");
    assert_eq!(stored(&server, &photo_hash), Some(photo.clone()));
    assert_eq!(stored(&server, &signature_hash), None);
    // The status did not wait for the signature: delivered, not completed
    // while the view says the signature is missing.
    let view = server.order("SO-1001");
    assert_eq!(view["status"], "delivered", "{view}");
    assert_eq!(view["proofs"][0]["proof"]["photo"], photo_hash.to_string());
    assert_eq!(view["proofs"][0]["proof"]["signature"], signature_hash.to_string());
    assert_eq!(proof_blob_missing(&view), [signature_hash.to_string()], "{view}");

    // The signature arrives on its own stream: the exception goes.
    let (client, _control) = session(&server, &driver).await;
    assert_eq!(
        upload(&client, signature_hash, &signature).await,
        Message::BlobStored { hash: signature_hash }
    );
    let view = server.order("SO-1001");
    assert!(proof_blob_missing(&view).is_empty(), "{view}");
    assert_eq!(view["proofs"][0]["missing_blobs"], serde_json::json!([]), "{view}");
    assert_eq!(view["status"], "completed", "{view}");
    let orders = server.ok(&["orders"]);
    let row = orders.as_array().unwrap().iter().find(|o| o["id"] == "SO-1001").unwrap().clone();
    assert_eq!(row["status"], "completed", "{orders}");
    assert_eq!(row["open_exceptions"], 0, "{orders}");

    // The office gets the photo, hash-checked.
    let office = Device::enrol(dir.path(), &server, "of-1", "office", None);
    let (client, _control) = session(&server, &office).await;
    let (data, other, _) = download(&client, photo_hash, 0).await;
    assert!(other.is_empty(), "{other:?}");
    assert_eq!(BlobHash::of(&data), photo_hash);
}

/// A photo damaged on the driver's phone (its bytes no longer hash to its
/// name, as after bit rot or a torn write) never holds up the delivery: the
/// events and the signature reach the server, the office sees the photo as
/// missing, the device's status names it, and later syncs leave it be.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_photo_on_the_device_never_holds_up_its_delivery() {
    let (dir, server) = seeded();
    let driver = waybill_tests::out_for_delivery(dir.path(), &server);
    let (photo, signature) = (bytes(CHUNK + 7, 21), bytes(900, 23));
    let (photo_file, signature_file) = (dir.path().join("door.jpg"), dir.path().join("sig.png"));
    std::fs::write(&photo_file, &photo).unwrap();
    std::fs::write(&signature_file, &signature).unwrap();
    waybill_tests::deliver(&driver, &photo_file, &signature_file);
    let (photo_hash, signature_hash) = (BlobHash::of(&photo), BlobHash::of(&signature));
    let c = rusqlite::Connection::open(&driver.store).unwrap();
    let damaged = bytes(CHUNK + 7, 22);
    let n = c
        .execute(
            "UPDATE blobs SET bytes = ?2 WHERE hash = ?1",
            rusqlite::params![photo_hash.to_string(), damaged],
        )
        .unwrap();
    assert_eq!(n, 1);

    let report = driver.sync();
    assert_eq!(report["pending_events"], 0, "{report}");
    assert_eq!(report["blobs_uploaded"], 1, "{report}");
    assert_eq!(report["blobs_failed"][0][0], photo_hash.to_string(), "{report}");
    assert_eq!(stored(&server, &signature_hash), Some(signature));
    assert_eq!(stored(&server, &photo_hash), None);
    let view = server.order("SO-1001");
    assert_eq!(view["status"], "delivered", "{view}");
    assert_eq!(proof_blob_missing(&view), [photo_hash.to_string()], "{view}");
    let status = driver.ok(&["status"]);
    assert_eq!(status["failed_blobs"][0][0], photo_hash.to_string(), "{status}");

    // Later syncs do not send it again, and carry on.
    let report = driver.sync();
    assert_eq!(report["blobs_failed"], serde_json::json!([]), "{report}");
    assert_eq!(report["blobs_uploaded"], 0, "{report}");
}
