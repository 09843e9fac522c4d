//! Packed sync messages (protocol 2): an Automerge sync message deflated
//! with a preset dictionary of the text every Waybill event repeats.
//!
//! A device's sync message for one document is a few changes, each mostly
//! one event's JSON (`{"v":1,"id":..,"hlc":..,"payload":{"type":..}}`).
//! Deflate alone has too little text in one message to find the repeats
//! (a 1.6 KB message of five short-picks packs to about 590 bytes); with
//! [`DICTIONARY`] preset, the field names, event types and the layout of
//! a change are found there from the first event on (about 410 bytes).
//!
//! The dictionary is part of the wire format: protocol 2 is deflate (raw,
//! 32 KiB window) with exactly these bytes preset. Changing them is a new
//! protocol version.
//!
//! The compressor and decompressor are kept per thread and reset between
//! messages, so packing a message allocates only its output.

use std::cell::RefCell;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// The preset dictionary: event JSON as Waybill writes it, then the bytes
/// of one change appending an event, for the layout every such change
/// repeats (the most common last: deflate reaches the end most cheaply).
pub const DICTIONARY: &[u8] = &joined::<{ TEXT.len() + CHANGE.len() }>(TEXT, CHANGE);

/// The event JSON of [`DICTIONARY`].
const TEXT: &[u8] = concat!(
    r#"{"type":"order_created","header":{"id":"SO-1","customer":"","ship_to":{"name":"","line1":"","city":"","postcode":"","country":"GB"},"#,
    r#""lines":[{"line":1,"gtin":"","description":"","quantity":1}],"created_at":"2026-01-01T00:00:00Z"}}"#,
    r#"{"type":"payment_captured","amount_minor":100,"currency":"GBP"}{"type":"cash_handed_in"}"#,
    r#"{"type":"arrived_at_stop","route":"R-1","stop":1}{"type":"attempt_failed","reason":"not_home"}"#,
    r#"{"type":"delivered","sscc":"","recipient":"","proof":{"photo":null,"signature":null,"geo":{"lat":51.5,"lon":-0.1}}}"#,
    r#"{"type":"out_for_delivery","route":"R-1","van":"V-1"}{"type":"loaded","sscc":"","route":"R-1","van":"V-1"}"#,
    r#"{"type":"staged","sscc":"","lane":""}{"type":"package_closed","sscc":"","weight_g":1,"dimensions":null}"#,
    r#"{"type":"packed","sscc":"","line":1,"gtin":"","quantity":1,"lot":null,"serial":null}"#,
    r#"{"type":"put_back","line":1,"location":"wh-1","bin":"A-01","gtin":"","quantity":1}"#,
    r#"{"type":"held","reason":""}{"type":"released"}{"type":"exception_resolved","exception":""}"#,
    r#"{"type":"picked","order":"SO-1","line":1,"location":"wh-1","bin":"A-01","gtin":"09506000134352","quantity":1,"lot":null,"serial":null,"expiry":null,"override_reason":null}"#,
    r#"{"v":1,"id":"hh-1:1","hlc":{"ms":1780000000000,"n":0},"at":"2026-01-01T00:00:00.000Z","by":"","payload":"#,
    r#"{"type":"short_picked","line":1,"location":"wh-1","bin":"A-01","quantity":1,"reason":"not_found"}}"#,
)
.as_bytes();

/// One change as Automerge 0.12 encodes it (its checksum and the hash it
/// builds on zeroed): device `hh-1` appending a `picked` event.
const CHANGE: &[u8] = b"\x85oJ\x83\x00\x00\x00\x00\x01\xa8\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x04hh-1\x02\x07\x81\x90\x92\x82\xe73\x00\x01\x06office\x08\x01\x02\x02\x02\x15\x0b4\x01B\x02V\x03W\xc5\x01p\x02\x7f\x01\x7f\x05\x7f\x06hh-1:2\x01\x7f\x01\x7f\xd6\x18{\x22v\x22:1,\x22id\x22:\x22hh-1:2\x22,\x22hlc\x22:{\x22ms\x22:1780000000001,\x22n\x22:0},\x22at\x22:\x222026-05-28T20:26:40.001Z\x22,\x22payload\x22:{\x22type\x22:\x22picked\x22,\x22order\x22:\x22SO-1\x22,\x22line\x22:1,\x22location\x22:\x22wh-1\x22,\x22bin\x22:\x22A-01\x22,\x22gtin\x22:\x2209506000134352\x22,\x22quantity\x22:1}}\x7f\x00\xb3";

/// `a` then `b`, as one array of `N` bytes (`N` their lengths' sum).
const fn joined<const N: usize>(a: &[u8], b: &[u8]) -> [u8; N] {
    let mut out = [0; N];
    let mut i = 0;
    while i < N {
        out[i] = if i < a.len() { a[i] } else { b[i - a.len()] };
        i += 1;
    }
    out
}

/// Deflate's window, as a power of two (32 KiB, the largest).
const WINDOW_BITS: u8 = 15;

/// A packed message that does not unpack.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackError {
    /// The bytes are not deflate over [`DICTIONARY`].
    #[error("a packed message does not inflate: {0}")]
    Corrupt(String),
    /// It inflates to more than the limit (a frame's worth).
    #[error("a packed message inflates past {0} bytes")]
    TooLarge(usize),
}

thread_local! {
    static PACKER: RefCell<Option<Compress>> = const { RefCell::new(None) };
    static UNPACKER: RefCell<Option<Decompress>> = const { RefCell::new(None) };
}

/// Deflates `data` over the dictionary.
pub fn pack(data: &[u8]) -> Vec<u8> {
    PACKER.with_borrow_mut(|slot| {
        let packer = slot.get_or_insert_with(|| {
            Compress::new_with_window_bits(Compression::default(), false, WINDOW_BITS)
        });
        packer.reset();
        // Only fails on a stream already started, which a reset one is not.
        let _ = packer.set_dictionary(DICTIONARY);
        // Deflate's worst case: a few bytes more than the input per block.
        let mut out = Vec::with_capacity(data.len() + data.len() / 16 + 64);
        loop {
            let read = usize::try_from(packer.total_in()).unwrap_or(usize::MAX).min(data.len());
            match packer.compress_vec(&data[read..], &mut out, FlushCompress::Finish) {
                Ok(Status::StreamEnd) => return out,
                // Out of room: more, and on.
                Ok(_) => out.reserve(out.capacity().max(64)),
                Err(e) => unreachable!("deflate of a reset stream failed: {e}"),
            }
        }
    })
}

/// Inflates what [`pack`] made, refusing to go past `limit` bytes.
pub fn unpack(data: &[u8], limit: usize) -> Result<Vec<u8>, PackError> {
    UNPACKER.with_borrow_mut(|slot| {
        let unpacker = slot.get_or_insert_with(|| Decompress::new_with_window_bits(false, WINDOW_BITS));
        unpacker.reset(false);
        unpacker.set_dictionary(DICTIONARY).map_err(|e| PackError::Corrupt(e.to_string()))?;
        let mut out = Vec::with_capacity((data.len() * 4).min(limit));
        loop {
            let read = usize::try_from(unpacker.total_in()).unwrap_or(usize::MAX).min(data.len());
            let before = (unpacker.total_in(), unpacker.total_out());
            match unpacker.decompress_vec(&data[read..], &mut out, FlushDecompress::Finish) {
                Err(e) => return Err(PackError::Corrupt(e.to_string())),
                Ok(_) if out.len() > limit => return Err(PackError::TooLarge(limit)),
                Ok(Status::StreamEnd) if unpacker.total_in() == data.len() as u64 => return Ok(out),
                Ok(Status::StreamEnd) => return Err(PackError::Corrupt("bytes after its end".into())),
                Ok(_)
                    if out.len() < out.capacity()
                        && before == (unpacker.total_in(), unpacker.total_out()) =>
                {
                    // No progress with room left: the input ended early.
                    return Err(PackError::Corrupt("it ends before its end".into()));
                }
                // Out of room: more, but never past one byte over the limit.
                Ok(_) => out.reserve_exact(out.capacity().max(1024).min(limit + 1 - out.len())),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(i: u32) -> String {
        format!(
            r#"{{"v":1,"id":"bench-1:{i}","hlc":{{"ms":{},"n":0}},"at":"2026-05-28T20:26:40.00{i}Z","payload":{{"type":"short_picked","line":1,"location":"wh-1","bin":"A-01","quantity":1,"reason":"not_found"}}}}"#,
            1_780_000_000_000u64 + u64::from(i)
        )
    }

    #[test]
    fn the_dictionary_is_part_of_the_wire_format_and_never_changes() {
        use sha2::Digest;
        let hash: String = sha2::Sha256::digest(DICTIONARY).iter().map(|b| format!("{b:02x}")).collect();
        // Changing it is a new protocol version.
        let pinned = "b8f90549a9490dd7a035227b2729bf501205e5aecfcb41980aa5d8e40c3cac8f";
        assert_eq!((DICTIONARY.len(), hash.as_str()), (1676, pinned));
    }

    #[test]
    fn what_is_packed_unpacks_to_the_same_bytes() {
        for data in
            [Vec::new(), b"x".to_vec(), event(1).into_bytes(), (0..=255u8).cycle().take(100_000).collect()]
        {
            let packed = pack(&data);
            assert_eq!(unpack(&packed, data.len().max(1)).unwrap(), data);
        }
    }

    #[test]
    fn the_dictionary_packs_events_far_smaller_than_deflate_alone() {
        let text: String = (1..=5).map(event).collect();
        let packed = pack(text.as_bytes()).len();
        let mut plain = Compress::new_with_window_bits(Compression::default(), false, WINDOW_BITS);
        let mut alone = Vec::with_capacity(text.len() * 2);
        plain.compress_vec(text.as_bytes(), &mut alone, FlushCompress::Finish).unwrap();
        // five events of about 200 bytes each
        assert!(packed * 4 < text.len(), "{packed} of {}", text.len());
        assert!(packed * 10 < alone.len() * 7, "{packed} with the dictionary, {} without", alone.len());
    }

    #[test]
    fn a_bomb_stops_at_the_limit_and_garbage_is_an_error() {
        let zeros = pack(&vec![0u8; 10_000_000]);
        assert!(zeros.len() < 20_000);
        assert_eq!(unpack(&zeros, 1_000_000), Err(PackError::TooLarge(1_000_000)));
        assert!(matches!(unpack(b"\xff\xff garbage", 1000), Err(PackError::Corrupt(_))));
        let whole = pack(event(1).as_bytes());
        assert!(matches!(unpack(&whole[..whole.len() / 2], 1000), Err(PackError::Corrupt(_))));
        let trailed = [&whole[..], b"tail"].concat();
        assert!(matches!(unpack(&trailed, 1000), Err(PackError::Corrupt(_))));
        // exactly the limit passes; one byte more does not
        let data = vec![7u8; 5000];
        assert_eq!(unpack(&pack(&data), 5000).unwrap(), data);
        assert_eq!(unpack(&pack(&data), 4999), Err(PackError::TooLarge(4999)));
    }
}
