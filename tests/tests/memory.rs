//! Bounded memory against a real server: an enrolled device that floods
//! its connections with huge frames, frame headers with no body, and streams
//! that say nothing leaves the server within a stated ceiling, serving
//! another device all the while, and the silent streams are dropped.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use waybill_shared::sync::{MAX_DEVICE_FRAME, Message};
use waybill_tests::raw::{Client, End, Stream};
use waybill_tests::{Device, SEED, Server};

/// Connections one device may hold (`Limits::default().connections_per_device`).
const CONNECTIONS: usize = 4;
/// Streams of each kind the attacker opens on each connection.
const PER_KIND: usize = 40;
/// What the attack may add to the server's peak resident memory, MiB. By
/// construction a connection holds at most 8 MiB of frames and 4 MiB that
/// quinn buffers: 48 MiB for a device's 4 connections, plus the allocator's
/// slack. Before the budget, the same attack took the server past 500 MiB.
const CEILING_MIB: f64 = 96.0;
/// The server's stream idle timeout (sync-server's `STREAM_IDLE`).
const STREAM_IDLE: Duration = Duration::from_secs(10);
/// How long a stream waits for room in its connection's budget, held by the
/// floods (sync-server's `wire::BUSY`).
const BUSY: Duration = Duration::from_secs(30);

fn doc() -> waybill_shared::doc::DocId {
    "order/SO-1001".parse().unwrap()
}

/// A frame header declaring the largest payload the server takes.
fn big_header() -> [u8; 4] {
    u32::try_from(MAX_DEVICE_FRAME - 64).unwrap().to_be_bytes()
}

/// Opens a document stream and starts a frame of the largest size, then
/// sends `body` bytes of it, never finishing it. Runs on its own task: the
/// writes block once flow control stops them.
fn flood(client: &Client, body: usize) -> tokio::task::JoinHandle<()> {
    let conn = client.conn.clone();
    tokio::spawn(async move {
        let Ok((mut send, _recv)) = conn.open_bi().await else { return };
        let open = waybill_shared::sync::encode(&Message::Open { doc: doc() }).unwrap();
        let _ = send.write_all(&open).await;
        let _ = send.write_all(&big_header()).await;
        let junk = vec![0x42u8; 64 * 1024];
        let mut sent = 0;
        while sent < body {
            if send.write_all(&junk).await.is_err() {
                return;
            }
            sent += junk.len();
        }
        // Hold the stream open, silent, until the server gives up on it.
        let _ = send.stopped().await;
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_flooding_its_streams_leaves_the_server_bounded_and_serving_others() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(&dir.path().join("server"));
    server.ok(&["import", SEED]);
    // The office may open any document: the attacker is one.
    let attacker = Device::enrol(dir.path(), &server, "of-1", "office", None);
    let honest = Device::enrol(dir.path(), &server, "hh-1", "picker", Some("wh-1"));
    honest.sync();
    let before = server.memory_mib("VmHWM");
    println!("server peak resident before the attack: {before:.1} MiB");

    let mut clients = Vec::new();
    let mut tasks = Vec::new();
    let mut silent: Vec<Stream> = Vec::new();
    for _ in 0..CONNECTIONS {
        let client = Client::device(&server, &attacker).await;
        let (control, _) = client.session().await;
        for _ in 0..PER_KIND {
            // A huge frame, nearly all of it sent.
            tasks.push(flood(&client, MAX_DEVICE_FRAME - 128 * 1024));
            // A huge frame's header and nothing more.
            tasks.push(flood(&client, 0));
            // A stream that says nothing after opening.
            let mut stream = client.open().await;
            stream.send(&Message::Open { doc: doc() }).await;
            silent.push(stream);
        }
        clients.push((client, control));
    }
    // Let the floods run into the budget and flow control.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let during = server.memory_mib("VmHWM");
    println!("server peak resident under the attack: {during:.1} MiB (+{:.1})", during - before);
    assert!(server.is_running(), "the server died under the attack");
    assert!(
        during - before <= CEILING_MIB,
        "the attack took the server from {before:.1} to {during:.1} MiB, over the {CEILING_MIB} MiB ceiling"
    );

    // Another device is served all the while.
    honest.ok(&waybill_tests::pick("SO-1001", "1", "A-01", "09506000134352", "1"));
    let started = Instant::now();
    let report = honest.sync();
    println!("another device's sync during the attack: {:?}", started.elapsed());
    assert_eq!(report["pending_events"], 0, "{report}");
    assert_eq!(server.order("SO-1001")["lines"][0]["picked"], 1);

    // The silent streams are dropped once idle (those stuck behind the
    // floods for room, once they waited their longest).
    let deadline = Instant::now() + BUSY + STREAM_IDLE + Duration::from_secs(15);
    for stream in &mut silent {
        let end = loop {
            match stream.next().await {
                Err(End::Timeout) if Instant::now() < deadline => continue,
                other => break other,
            }
        };
        assert!(
            matches!(end, Err(End::Lost(_) | End::Finished)),
            "a silent stream was still open after {:?}: {end:?}",
            BUSY + STREAM_IDLE
        );
    }
    let after = server.memory_mib("VmHWM");
    assert!(after - before <= CEILING_MIB, "peak {after:.1} MiB after the attack");
    for t in tasks {
        t.abort();
    }
}
