//! Document heads as stored bytes: the 32-byte change hashes one after the
//! other. Both stores keep "what the other side holds" this way.

use automerge::ChangeHash;

/// Stored heads that are not a whole number of 32-byte hashes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stored heads of {0} bytes are not a list of 32-byte hashes")]
pub struct InvalidHeads(pub usize);

/// The stored form.
pub fn encode(heads: &[ChangeHash]) -> Vec<u8> {
    heads.iter().flat_map(|h| h.0).collect()
}

/// Reads the stored form.
pub fn decode(bytes: &[u8]) -> Result<Vec<ChangeHash>, InvalidHeads> {
    if bytes.len() % 32 != 0 {
        return Err(InvalidHeads(bytes.len()));
    }
    bytes.chunks(32).map(|c| ChangeHash::try_from(c).map_err(|_| InvalidHeads(bytes.len()))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_ragged_bytes() {
        let heads = vec![ChangeHash([1; 32]), ChangeHash([2; 32])];
        assert_eq!(decode(&encode(&heads)), Ok(heads));
        assert_eq!(decode(&[]), Ok(vec![]));
        assert_eq!(decode(&[0; 33]), Err(InvalidHeads(33)));
    }
}
