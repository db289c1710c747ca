//! Group commit: one writer thread owns every redb write transaction of the store. Each write of
//! the table and the queues is a closure (an "op") sent to it; the writer takes whatever ops queued
//! while its previous commit was in flight, runs them in arrival order inside ONE transaction and
//! commits (fsyncs) once, so concurrent writers share the fsync instead of queueing for their own.
//!
//! Semantics are those of one transaction per op:
//! - an op sees the state left by the ops before it in the group;
//! - an op refused by its own rules (a failed condition, an invalid receipt) writes nothing and
//!   gets its own error while the others commit — ops check before they write, and say which of
//!   their errors are such clean refusals;
//! - a caller learns its outcome only once the commit is durable; if the commit fails, every op of
//!   the group gets the error;
//! - an op that fails after it may have written (a storage error, a corrupt value) could leave a
//!   half-applied change, so the group is aborted and each of its ops is run again alone, in order.
//!
//! There is no wait to collect a group: an uncontended write starts at once and commits alone.

use redb::{Database, WriteTransaction};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use tokio::sync::oneshot;

/// Bounds on one group, so a burst neither holds a huge transaction's dirty pages nor makes the
/// first writer of the group wait long for everyone else's work.
const MAX_GROUP_OPS: usize = 1000;
const MAX_GROUP_BYTES: usize = 8 * 1024 * 1024;

/// The size of one op, for bounding groups: how many items it writes and roughly how many bytes.
#[derive(Clone, Copy, Debug)]
pub(super) struct Cost {
    pub ops: usize,
    pub bytes: usize,
}

impl Cost {
    pub fn one(bytes: usize) -> Self {
        Self { ops: 1, bytes }
    }
}

/// What running one op did to the shared transaction.
enum Applied {
    /// It wrote (or may have written) and succeeded: the group must commit.
    Wrote,
    /// It changed nothing (read-only, or refused cleanly): aborting would lose nothing of it.
    Unchanged,
    /// It failed after it may have written: the transaction holds a half-applied op.
    Poisoned,
}

/// One queued op with its reply channel, type-erased so that table and queue ops share a group.
trait Job: Send {
    fn cost(&self) -> Cost;
    fn apply(&mut self, txn: &WriteTransaction) -> Applied;
    /// Replies with the outcome `apply` kept.
    fn finish(self: Box<Self>);
    /// Replies with a storage error instead (the commit or the transaction itself failed).
    fn fail(self: Box<Self>, error: &str);
}

struct Op<R, E, F> {
    work: F,
    cost: Cost,
    /// Which errors of `work` are refusals raised before it wrote anything.
    clean: fn(&E) -> bool,
    storage: fn(String) -> E,
    outcome: Option<Result<R, E>>,
    reply: oneshot::Sender<Result<R, E>>,
}

impl<R, E, F> Job for Op<R, E, F>
where
    R: Send,
    E: Send,
    F: FnMut(&WriteTransaction) -> Result<(bool, R), E> + Send,
{
    fn cost(&self) -> Cost {
        self.cost
    }

    fn apply(&mut self, txn: &WriteTransaction) -> Applied {
        let (applied, outcome) = match (self.work)(txn) {
            Ok((true, r)) => (Applied::Wrote, Ok(r)),
            Ok((false, r)) => (Applied::Unchanged, Ok(r)),
            Err(e) if (self.clean)(&e) => (Applied::Unchanged, Err(e)),
            Err(e) => (Applied::Poisoned, Err(e)),
        };
        self.outcome = Some(outcome);
        applied
    }

    fn finish(self: Box<Self>) {
        let Op {
            work,
            outcome,
            reply,
            storage,
            ..
        } = *self;
        // The closure may hold the last handle on the store; dropping it before the caller wakes
        // keeps the store's shutdown on the caller's thread, not on this one.
        drop(work);
        let outcome =
            outcome.unwrap_or_else(|| Err(storage("embedded writer skipped a write".to_owned())));
        // A caller that stopped waiting does not want the answer.
        let _ = reply.send(outcome);
    }

    fn fail(self: Box<Self>, error: &str) {
        let Op {
            work,
            reply,
            storage,
            ..
        } = *self;
        drop(work);
        let _ = reply.send(Err(storage(format!("embedded storage: {error}"))));
    }
}

/// The handle on the writer thread; dropping it lets the thread finish its queue and stop.
pub(super) struct Writer {
    sender: Option<mpsc::Sender<Box<dyn Job>>>,
    thread: Option<JoinHandle<()>>,
    commits: Arc<AtomicU64>,
}

impl Writer {
    pub fn start(db: Arc<Database>) -> std::io::Result<Self> {
        let (sender, receiver) = mpsc::channel();
        let commits = Arc::new(AtomicU64::new(0));
        let counter = commits.clone();
        let thread = std::thread::Builder::new()
            .name("dingbridge-redb-writer".to_owned())
            .spawn(move || write_loop(&db, &receiver, &counter))?;
        Ok(Self {
            sender: Some(sender),
            thread: Some(thread),
            commits,
        })
    }

    /// Durable commits so far (groups that wrote something), for tests and metrics.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Runs `work` in the next group's transaction and returns its outcome once committed.
    /// `work` returns whether it wrote; it may run twice (see the module doc), so it must not
    /// consume what it captured. `clean` names the errors `work` raises before writing anything.
    pub async fn run<R, E, F>(
        &self,
        cost: Cost,
        work: F,
        clean: fn(&E) -> bool,
        storage: fn(String) -> E,
    ) -> Result<R, E>
    where
        R: Send + 'static,
        E: Send + 'static,
        F: FnMut(&WriteTransaction) -> Result<(bool, R), E> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Op {
            work,
            cost,
            clean,
            storage,
            outcome: None,
            reply,
        });
        let stopped = || storage("embedded storage: the writer has stopped".to_owned());
        let sender = self.sender.as_ref().ok_or_else(stopped)?;
        sender.send(job).map_err(|_| stopped())?;
        answer.await.unwrap_or_else(|_| Err(stopped()))
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the channel ends the loop once the queued ops are done; joining releases the
        // thread's handle on the database, so the file can be reopened right after the drop.
        self.sender = None;
        if let Some(thread) = self.thread.take()
            && thread.thread().id() != std::thread::current().id()
        {
            let _ = thread.join();
        }
    }
}

fn write_loop(db: &Database, receiver: &mpsc::Receiver<Box<dyn Job>>, commits: &AtomicU64) {
    let mut held_over: Option<Box<dyn Job>> = None;
    loop {
        let first = match held_over.take() {
            Some(job) => job,
            None => match receiver.recv() {
                Ok(job) => job,
                Err(mpsc::RecvError) => return,
            },
        };
        let mut cost = first.cost();
        let mut group = vec![first];
        // Whatever queued meanwhile joins, up to the bounds; the op that would overflow them
        // starts the next group.
        while cost.ops < MAX_GROUP_OPS && cost.bytes < MAX_GROUP_BYTES {
            let Ok(job) = receiver.try_recv() else { break };
            let c = job.cost();
            if cost.ops + c.ops > MAX_GROUP_OPS || cost.bytes + c.bytes > MAX_GROUP_BYTES {
                held_over = Some(job);
                break;
            }
            cost.ops += c.ops;
            cost.bytes += c.bytes;
            group.push(job);
        }
        run_group(db, group, commits);
    }
}

/// Runs `group` in one transaction and commits once; replies to every op after the commit.
fn run_group(db: &Database, mut group: Vec<Box<dyn Job>>, commits: &AtomicU64) {
    let txn = match db.begin_write() {
        Ok(txn) => txn,
        Err(e) => return fail_all(group, &e.to_string()),
    };
    let mut wrote = false;
    for job in &mut group {
        match job.apply(&txn) {
            Applied::Wrote => wrote = true,
            Applied::Unchanged => {}
            Applied::Poisoned => {
                // Nothing of this group may commit with a half-applied op in it.
                if let Err(e) = txn.abort() {
                    return fail_all(group, &e.to_string());
                }
                if group.len() == 1 {
                    // Alone, the abort is all the old one-transaction-per-op behaviour did.
                    return group.into_iter().for_each(Job::finish);
                }
                return group
                    .into_iter()
                    .for_each(|job| run_alone(db, job, commits));
            }
        }
    }
    match end(txn, wrote, commits) {
        Ok(()) => group.into_iter().for_each(Job::finish),
        Err(e) => fail_all(group, &e),
    }
}

/// The fallback after a poisoned group: `job` in a transaction of its own.
fn run_alone(db: &Database, mut job: Box<dyn Job>, commits: &AtomicU64) {
    let txn = match db.begin_write() {
        Ok(txn) => txn,
        Err(e) => return job.fail(&e.to_string()),
    };
    let wrote = matches!(job.apply(&txn), Applied::Wrote);
    match end(txn, wrote, commits) {
        Ok(()) => job.finish(),
        Err(e) => job.fail(&e),
    }
}

/// Commits (one fsync, Immediate durability) if anything was written, else aborts: a poll that
/// found nothing costs no fsync.
fn end(txn: WriteTransaction, wrote: bool, commits: &AtomicU64) -> Result<(), String> {
    if wrote {
        txn.commit().map_err(|e| e.to_string())?;
        commits.fetch_add(1, Ordering::Relaxed);
        Ok(())
    } else {
        txn.abort().map_err(|e| e.to_string())
    }
}

fn fail_all(group: Vec<Box<dyn Job>>, error: &str) {
    group.into_iter().for_each(|job| job.fail(error));
}

#[cfg(test)]
mod tests;
