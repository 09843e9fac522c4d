//! Any bytes, pushed in any pieces, into the frame decoder: it may refuse
//! them, never panic or allocate past its limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use waybill_shared::sync::{FrameDecoder, peek_protocol};

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(1, |b| usize::from(*b).max(1));
    let mut decoder = FrameDecoder::with_limit(64 * 1024);
    for piece in data.chunks(split) {
        decoder.push(piece);
        while let Ok(Some(_)) = decoder.next_frame() {}
    }
    let _ = decoder.finish();
    let _ = peek_protocol(data);
});
