//! Documents as stored: a snapshot and the changes appended since, and
//! each device's sync state per document.

use automerge::ChangeHash;
use waybill_shared::doc::DocId;

use std::collections::HashMap;

use super::{Row, Storage, StorageError, StoredDoc, Value, args};

fn decode_heads(bytes: &[u8]) -> Result<Vec<ChangeHash>, StorageError> {
    waybill_shared::heads::decode(bytes).map_err(|e| StorageError::Corrupt(format!("stored heads: {e}")))
}

impl Storage {
    /// A document's snapshot, the changes appended since and its heads, as
    /// one state of the database holds them; `None` if not stored.
    pub async fn load_doc(&self, id: &DocId) -> Result<Option<StoredDoc>, StorageError> {
        let key = id.to_string();
        let [doc, changes]: [Vec<Row>; 2] = self
            .snapshot(&[
                ("SELECT snapshot, heads FROM docs WHERE id = ?1", args![&key]),
                ("SELECT bytes FROM doc_changes WHERE doc = ?1 ORDER BY seq", args![&key]),
            ])
            .await?
            .try_into()
            .map_err(|_| StorageError::Corrupt("two reads gave another number of answers".into()))?;
        let Some(doc) = doc.first() else { return Ok(None) };
        Ok(Some(StoredDoc {
            snapshot: doc.get(0)?,
            heads: decode_heads(&doc.get::<Vec<u8>>(1)?)?,
            changes: changes.iter().map(|r| r.get(0)).collect::<Result<_, _>>()?,
        }))
    }

    /// A document's stored heads and the number of changes appended since
    /// its snapshot.
    pub async fn doc_heads(&self, id: &DocId) -> Result<Option<(Vec<ChangeHash>, i64)>, StorageError> {
        let row = self
            .query_opt("SELECT heads, changes FROM docs WHERE id = ?1", args![id.to_string()], |r| {
                Ok((r.get::<Vec<u8>>(0)?, r.get::<i64>(1)?))
            })
            .await?;
        row.map(|(h, n)| Ok((decode_heads(&h)?, n))).transpose()
    }

    /// The stored heads of each of `ids` that is stored, in few reads.
    pub async fn heads_of(&self, ids: &[DocId]) -> Result<HashMap<DocId, Vec<ChangeHash>>, StorageError> {
        // One statement text for every read (short chunks repeat their last
        // id), so each connection prepares it once.
        const CHUNK: usize = 256;
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            let marks: Vec<String> = (1..=CHUNK).map(|i| format!("?{i}")).collect();
            format!("SELECT id, heads FROM docs WHERE id IN ({})", marks.join(", "))
        });
        let mut out = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            let mut args: Vec<Value> = chunk.iter().map(|id| Value::from(id.to_string())).collect();
            args.resize(CHUNK, args[args.len() - 1].clone());
            for row in self.rows(&SQL, args).await? {
                let id: String = row.get(0)?;
                let id = id.parse().map_err(|e| StorageError::Corrupt(format!("document id {id}: {e}")))?;
                out.insert(id, decode_heads(&row.get::<Vec<u8>>(1)?)?);
            }
        }
        Ok(out)
    }

    /// A device's persisted sync state for a document.
    pub async fn sync_state(&self, device: &str, doc: &DocId) -> Result<Option<Vec<u8>>, StorageError> {
        self.query_opt(
            "SELECT state FROM sync_states WHERE device = ?1 AND doc = ?2",
            args![device, doc.to_string()],
            |r| r.get(0),
        )
        .await
    }
}
