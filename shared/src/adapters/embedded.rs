//! Embedded engines on redb: `EmbeddedTable` and `EmbeddedQueue`, both in one ACID file
//! (`<data_dir>/dingbridge.redb`) so that `cargo run` and fast tests need no AWS, with DynamoDB's
//! and SQS FIFO's semantics. Every committed write is fsynced before the call returns; concurrent
//! writes share one transaction and one fsync (`commit`).

mod codec;
mod commit;
pub mod files;
mod query;
mod queue;
mod secrets;
mod table;

pub use queue::{EmbeddedQueue, QueueSettings};
pub use secrets::DirSecrets;
pub use table::EmbeddedTable;

use crate::ports::{Clock, TableError};
use redb::Database;
use std::collections::HashMap;
use std::fmt::Display;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::Notify;

/// The file every engine of one process shares; redb allows one writer process per file.
pub const DATA_FILE: &str = "dingbridge.redb";
/// redb's page cache. Its default (1 GiB) lets a large import grow the process far past what the
/// data needs. Reads that miss it are served from the OS page cache (the file is read with
/// `pread`), so a small cache costs little: 16 MiB keeps a 100,000-user pull's peak RSS at ~80 MB
/// where 64 MiB took it to ~160 MB (docs/BENCHMARKS.md).
const CACHE_BYTES: usize = 16 * 1024 * 1024;

/// One open database, shared by the table and every queue made from it. Cheap to clone.
#[derive(Clone)]
pub struct EmbeddedStore {
    inner: Arc<StoreInner>,
}

struct StoreInner {
    /// Read transactions open on it directly; every write goes through `writer`.
    db: Arc<Database>,
    writer: commit::Writer,
    /// One wakeup per queue name, so every handle on a queue wakes the same consumer.
    wakeups: Mutex<HashMap<String, Arc<Notify>>>,
}

impl EmbeddedStore {
    /// Opens (or creates) `data_dir/dingbridge.redb`, creating `data_dir` if needed. Both are
    /// owner-only (0700 and 0600), tightened if an older version left them open.
    pub fn open(data_dir: &Path) -> Result<Self, TableError> {
        files::private_dir(data_dir).map_err(|e| {
            TableError::Permanent(format!("cannot create {}: {e}", data_dir.display()))
        })?;
        let path = data_dir.join(DATA_FILE);
        // redb would create its file 0666 less the umask (usually 0644, world-readable): made
        // first, empty and owner-only, it is the file redb initialises.
        files::private_file(&path)
            .map_err(|e| TableError::Permanent(format!("cannot create {}: {e}", path.display())))?;
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(&path)
            .map_err(|e| TableError::Permanent(format!("cannot open {}: {e}", path.display())))?;
        table::create_tables(&db)?;
        let db = Arc::new(db);
        let writer = commit::Writer::start(db.clone())
            .map_err(|e| TableError::Permanent(format!("cannot start the embedded writer: {e}")))?;
        Ok(Self {
            inner: Arc::new(StoreInner {
                db,
                writer,
                wakeups: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// Durable commits (fsyncs) so far; concurrent writes grouped into one count once.
    pub fn commits(&self) -> u64 {
        self.inner.writer.commits()
    }

    /// The single table of the data model (`docs/table-design.md`), expiring items by `clock`.
    pub fn table(&self, clock: Arc<dyn Clock>) -> EmbeddedTable {
        EmbeddedTable::new(self.inner.clone(), clock)
    }

    /// The FIFO queue `name` with its dead-letter list; its storage is created on first write.
    pub fn queue(
        &self,
        name: &str,
        settings: QueueSettings,
        clock: Arc<dyn Clock>,
    ) -> EmbeddedQueue {
        let wakeup = self
            .inner
            .wakeups
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(name.to_owned())
            .or_insert_with(|| Arc::new(Notify::new()))
            .clone();
        EmbeddedQueue::new(self.inner.clone(), name, settings, clock, wakeup)
    }
}

/// Runs blocking storage work off the async runtime; a panicked or cancelled task reports as `fail`.
async fn blocking<R, E>(
    work: impl FnOnce() -> Result<R, E> + Send + 'static,
    fail: impl FnOnce(String) -> E,
) -> Result<R, E>
where
    R: Send + 'static,
    E: Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(e) => Err(fail(format!("embedded storage task failed: {e}"))),
    }
}

/// redb errors are I/O, a full disk, or corruption: none of them goes away by retrying the call.
fn table_storage(e: impl Display) -> TableError {
    TableError::Permanent(format!("embedded storage: {e}"))
}

/// A settable clock for the engines' unit tests.
#[cfg(test)]
mod test_clock {
    use crate::ports::Clock;
    use std::sync::atomic::{AtomicI64, Ordering};

    pub(super) struct TestClock(AtomicI64);

    impl TestClock {
        pub fn at(millis: i64) -> std::sync::Arc<Self> {
            std::sync::Arc::new(Self(AtomicI64::new(millis)))
        }

        pub fn advance_millis(&self, by: i64) {
            self.0.fetch_add(by, Ordering::SeqCst);
        }
    }

    impl Clock for TestClock {
        fn now_millis(&self) -> i64 {
            self.0.load(Ordering::SeqCst)
        }
    }
}
