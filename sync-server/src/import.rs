//! Bulk import of a seed file, streamed: the file is read one order (or
//! location, or route) at a time and written in batches of [`BATCH`]
//! documents, each one durable transaction with its projections and the
//! office's recorder, so memory stays bounded however large the file.
//!
//! It resumes: documents held already are skipped, so an import stopped
//! by an error, a `kill -9` or a full disk is run again as it was and takes
//! up where it stopped. An error names where in the file it is and how many
//! documents went in before it.

use std::collections::HashSet;
use std::io::BufReader;
use std::path::Path;
use std::time::Instant;

use chrono::Utc;
use tokio::runtime::Handle;
use waybill_shared::doc::DocId;
use waybill_shared::event::Event;
use waybill_shared::id::DeviceId;
use waybill_shared::seed::{self, Item};

use crate::blob_store::BlobStore;
use crate::ingest;
use crate::office;
use crate::storage::{self, Database, Storage, StorageError, WriteOp, Writer};

/// Documents per transaction.
pub const BATCH: usize = 1000;

/// An import that stopped.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file cannot be read.
    #[error("cannot read {file}: {error}")]
    Read {
        /// The file.
        file: String,
        /// Why.
        error: std::io::Error,
    },
    /// The file is not a seed file, or an item in it cannot be taken.
    #[error(
        "{file} stopped the import: {error}; {done} document(s) before it are imported, and running the same import again skips them"
    )]
    Invalid {
        /// The file.
        file: String,
        /// What is wrong, and where in the file.
        error: serde_json::Error,
        /// Documents imported before it.
        done: u64,
    },
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// An item's document cannot be written: which, and why.
    #[error("cannot write {0}")]
    Document(String),
    /// The office's recorder does not read.
    #[error(transparent)]
    Office(#[from] office::OfficeError),
}

/// How far an import is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// Documents written.
    pub created: u64,
    /// Documents skipped: held already (an earlier import, or twice in the file).
    pub skipped: u64,
    /// The first few documents written, to name them.
    pub first: Vec<DocId>,
}

/// Documents named in [`Progress::first`].
const NAMED: usize = 20;

/// Imports the seed file `file` into `database`, calling `progress` after
/// each batch. The file is read on a blocking thread and each batch's
/// documents written on one thread per core; their writes go to the
/// writer as before.
pub async fn import(
    database: &Database,
    file: &Path,
    progress: impl FnMut(&Progress, f64) + Send + 'static,
) -> Result<Progress, ImportError> {
    let name = file.display().to_string();
    let input = std::fs::File::open(file).map_err(|error| ImportError::Read { file: name.clone(), error })?;
    let (storage, writer) = storage::open(database).await?;
    // The office's recorder is this import's until it ends, on every node.
    let _office = storage.lock(storage::Lock::Office).await?;
    // A damaged recorder is refused rather than started afresh: that would
    // reuse the office's event ids.
    let office = office::OfficeRecorder::load(&storage).await?;
    // A seed holds no proof of delivery, so no blob is looked up.
    let blobs = BlobStore::Database(storage.clone());
    let batch = Batch {
        storage,
        handle: Handle::current(),
        writer,
        office,
        blobs,
        ops: Vec::new(),
        items: Vec::new(),
        ids: HashSet::new(),
        in_flight: None,
        in_flight_ids: HashSet::new(),
    };
    let failed =
        |e: tokio::task::JoinError| ImportError::Read { file: name.clone(), error: std::io::Error::other(e) };
    tokio::task::spawn_blocking({
        let name = name.clone();
        move || stream(batch, input, name, progress)
    })
    .await
    .map_err(failed)?
}

/// Reads `input` item by item into batches for the writer.
fn stream(
    mut batch: Batch,
    input: std::fs::File,
    name: String,
    mut progress: impl FnMut(&Progress, f64),
) -> Result<Progress, ImportError> {
    let mut done = Progress::default();
    let started = Instant::now();
    let mut failed = None;
    let mut reader = serde_json::Deserializer::from_reader(BufReader::with_capacity(1 << 16, input));
    let read = seed::stream(&mut reader, |item| {
        let step = batch.add(item, &mut done).and_then(|()| {
            if batch.ids.len() >= BATCH {
                batch.flush().map_err(Stop::Failed)?;
                progress(&done, started.elapsed().as_secs_f64());
            }
            Ok(())
        });
        step.map_err(|stop| match stop {
            // Said by the reader, with where in the file.
            Stop::Item(why) => why,
            Stop::Failed(e) => {
                let why = e.to_string();
                failed = Some(e);
                why
            }
        })
    })
    .and_then(|()| reader.end());
    if let Some(e) = failed {
        return Err(e);
    }
    let before = done.created - batch.ids.len() as u64;
    let read = read.map_err(|error| ImportError::Invalid { file: name, error, done: before });
    // What went to the writer is durable before anything is said.
    batch.wait()?;
    read?;
    batch.flush()?;
    batch.wait()?;
    progress(&done, started.elapsed().as_secs_f64());
    Ok(done)
}

/// Why an item stopped the import.
enum Stop {
    /// The item cannot be taken: this is why.
    Item(String),
    /// Something else failed.
    Failed(ImportError),
}

impl<E: Into<ImportError>> From<E> for Stop {
    fn from(e: E) -> Self {
        Self::Failed(e.into())
    }
}

/// The documents of the batch being built, and what writes them.
struct Batch {
    storage: Storage,
    /// The runtime the import was called on, to wait on it.
    handle: Handle,
    writer: Writer,
    office: office::OfficeRecorder,
    blobs: BlobStore,
    /// The batch's writes that come before its documents' (what the
    /// shipper said of each customer, read by the projections, which queue
    /// emails).
    ops: Vec<WriteOp>,
    /// The batch's items and the office's events for each, recorded in the
    /// file's order: their documents are written when the batch is flushed.
    items: Vec<(Item, Vec<Event>)>,
    /// The documents in `items`.
    ids: HashSet<DocId>,
    /// The batch the writer is writing while the next is built, and its
    /// documents (not yet seen by a query).
    in_flight: Option<Pending>,
    in_flight_ids: HashSet<DocId>,
}

type Pending = std::pin::Pin<Box<dyn Future<Output = Result<(), StorageError>> + Send>>;

impl Batch {
    fn add(&mut self, item: Item, done: &mut Progress) -> Result<(), Stop> {
        let id = item.id();
        let held = self.handle.block_on(self.storage.holds_doc(&id))?;
        if held || self.ids.contains(&id) || self.in_flight_ids.contains(&id) {
            done.skipped += 1;
            return Ok(());
        }
        let contact = match &item {
            Item::Location(l) => {
                if let Some(zone) = &l.time_zone {
                    crate::depot_clock::parse(zone)
                        .map_err(|e| Stop::Item(format!("location {}: {e}", l.id)))?;
                }
                None
            }
            Item::Order(o) => {
                let contact = office::Contact::of(o);
                contact.validate().map_err(|e| Stop::Item(e.to_string()))?;
                crate::storage::mail::contact(o.header.id.as_str(), &contact)
            }
            Item::Route(_) => None,
        };
        let events = item.events(&mut self.office, Utc::now()).map_err(|e| Stop::Item(e.to_string()))?;
        self.ops.extend(contact);
        self.items.push((item, events));
        if done.first.len() < NAMED {
            done.first.push(id.clone());
        }
        done.created += 1;
        self.ids.insert(id);
        Ok(())
    }

    /// Writes the batch's documents and hands them, with the recorder that
    /// wrote them, to the writer as one transaction once the one before it
    /// is durable: one batch is written while the next is built, and no
    /// more are held.
    fn flush(&mut self) -> Result<(), ImportError> {
        if self.ids.is_empty() {
            return Ok(());
        }
        // Written while the writer stores the batch before; that is
        // durable before anything, even this batch's failure, is said.
        let documents = self.documents();
        self.wait()?;
        let mut ops = std::mem::take(&mut self.ops);
        ops.extend(documents?);
        ops.push(self.office.write()?);
        self.in_flight = Some(Box::pin(self.writer.submit(ops)?));
        self.in_flight_ids = std::mem::take(&mut self.ids);
        Ok(())
    }

    /// The writes of the batch's documents and their projections, made on
    /// one thread per core.
    fn documents(&mut self) -> Result<Vec<WriteOp>, ImportError> {
        let items = std::mem::take(&mut self.items);
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let (office, blobs, handle) = (self.office.device(), &self.blobs, &self.handle);
        std::thread::scope(|s| {
            let parts: Vec<_> = items
                .chunks(items.len().div_ceil(threads).max(1))
                .map(|part| s.spawn(move || written(part, office, blobs, handle)))
                .collect();
            let mut ops = Vec::new();
            for part in parts {
                ops.extend(part.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))?);
            }
            Ok(ops)
        })
    }

    /// Waits until what was handed to the writer is durable.
    fn wait(&mut self) -> Result<(), ImportError> {
        match self.in_flight.take() {
            Some(pending) => Ok(self.handle.block_on(pending)?),
            None => Ok(()),
        }
    }
}

/// The writes of `items`' documents, written by `office` (each the
/// document whole, uncompressed, and its projection).
fn written(
    items: &[(Item, Vec<Event>)],
    office: &DeviceId,
    blobs: &BlobStore,
    handle: &Handle,
) -> Result<Vec<WriteOp>, ImportError> {
    let mut ops = Vec::with_capacity(items.len() * 8);
    for (item, events) in items {
        let id = item.id();
        let mut doc = item.write(office, events).map_err(|e| ImportError::Document(format!("{id}: {e}")))?;
        // Uncompressed: a small document gains little from DEFLATE, whose
        // state (380 KB per save) cost more than the rest of the import.
        ops.push(WriteOp::PutDoc {
            id: id.clone(),
            snapshot: doc.save_nocompress(),
            heads: doc.get_heads(),
            stored: None,
        });
        ops.extend(handle.block_on(ingest::project(blobs, &id, &mut doc))?);
    }
    Ok(ops)
}
