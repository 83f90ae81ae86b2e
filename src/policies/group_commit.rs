//! Group commit of the decision log (`mkt.decision_log = 'group_commit'`).
//!
//! A durable one-row insert per decision costs each deciding transaction its own WAL record,
//! commit and flush wait, as well as the executor runs of the insert. Here a decide hands its row
//! to a log writer process of its database through a slot in shared memory and sleeps on its latch;
//! the writer inserts every queued row in one statement, commits once, and wakes each decider, whose
//! own transaction stays read-only. A decide returns only after its row is committed, so the
//! propensity that off-policy evaluation reads is as durable as with an insert in the caller's
//! transaction; what changes is that the row no longer rolls back with the caller.
//!
//! Without shared memory (the library was not preloaded) this is an error. Whatever else the writer
//! cannot take (a REPEATABLE READ or SERIALIZABLE caller, whose snapshot would not see the row; a
//! full queue; a row larger than a slot; no free worker slot; a writer gone; a failed batch) falls
//! back to the insert in the caller's transaction, which also reports any error the row causes.

use crate::pg::error::{report, SqlResult};
use mkt_core::Error;
use mkt_policy::log_record::LogRecord;
use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, BgWorkerStartTime, SignalWakeFlags};
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
use std::time::{Duration, Instant};

const SLOTS: usize = 512;
const SLOT_BYTES: usize = 2040;
const WRITERS: usize = 32;
/// A writer with nothing to do this long exits, so that it does not hold its database open (DROP
/// DATABASE waits for its sessions); the next decide starts another.
const WRITER_IDLE: Duration = Duration::from_secs(2);
/// A writer that was asked for and has not announced itself after this long is taken as failed.
const WRITER_START_MICROS: i64 = 10_000_000;
const NAME: &std::ffi::CStr = c"pg_marketing decision log";

const FREE: u32 = 0;
const QUEUED: u32 = 1;
const TAKEN: u32 = 2;
const DONE: u32 = 3;
const FAILED: u32 = 4;
/// Taken by the writer, but its decider has left (cancelled): the writer frees it.
const ABANDONED: u32 = 5;

#[repr(C)]
struct Slot {
    state: AtomicU32,
    db: pg_sys::Oid,
    waiter: *mut pg_sys::Latch,
    /// End of the commit record of the batch that held the row (set with DONE).
    lsn: pg_sys::XLogRecPtr,
    len: u32,
    data: [u8; SLOT_BYTES],
}

#[repr(C)]
struct Writer {
    db: pg_sys::Oid,
    pid: i32,
    latch: *mut pg_sys::Latch,
    /// When a decide asked for this writer (0: not starting).
    starting_at: pg_sys::TimestampTz,
}

#[repr(C)]
struct Shared {
    lock: *mut pg_sys::LWLock,
    writers: [Writer; WRITERS],
    slots: [Slot; SLOTS],
}

/// Set in the postmaster when the library is preloaded; backends inherit it.
static SHARED: AtomicPtr<Shared> = AtomicPtr::new(std::ptr::null_mut());
static mut PREV_REQUEST: pg_sys::shmem_request_hook_type = None;
static mut PREV_STARTUP: pg_sys::shmem_startup_hook_type = None;

/// Asks for the queue's shared memory when the library is in shared_preload_libraries.
pub fn init() {
    // SAFETY: _PG_init runs on the main thread; the hooks are chained as PostgreSQL documents.
    unsafe {
        if !pg_sys::process_shared_preload_libraries_in_progress {
            return;
        }
        PREV_REQUEST = pg_sys::shmem_request_hook;
        pg_sys::shmem_request_hook = Some(request_shmem);
        PREV_STARTUP = pg_sys::shmem_startup_hook;
        pg_sys::shmem_startup_hook = Some(startup_shmem);
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn request_shmem() {
    // SAFETY: called by the postmaster in its shmem request phase.
    unsafe {
        if let Some(prev) = PREV_REQUEST {
            prev();
        }
        pg_sys::RequestAddinShmemSpace(std::mem::size_of::<Shared>());
        pg_sys::RequestNamedLWLockTranche(NAME.as_ptr(), 1);
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn startup_shmem() {
    // SAFETY: the postmaster (or a backend after a crash restart) initialises the segment under
    // AddinShmemInitLock; zeroed memory is a valid empty queue (every slot FREE, no writer).
    unsafe {
        if let Some(prev) = PREV_STARTUP {
            prev();
        }
        // AddinShmemInitLock, a macro in C: the 22nd of the main LWLocks.
        let init_lock = &raw mut (*pg_sys::MainLWLockArray.add(21)).lock;
        pg_sys::LWLockAcquire(init_lock, pg_sys::LWLockMode::LW_EXCLUSIVE);
        let mut found = false;
        let p = pg_sys::ShmemInitStruct(NAME.as_ptr(), std::mem::size_of::<Shared>(), &mut found)
            as *mut Shared;
        if !found {
            std::ptr::write_bytes(p as *mut u8, 0, std::mem::size_of::<Shared>());
            (*p).lock = &mut (*pg_sys::GetNamedLWLockTranche(NAME.as_ptr())).lock;
        }
        pg_sys::LWLockRelease(init_lock);
        SHARED.store(p, Ordering::Release);
    }
}

fn shared() -> SqlResult<&'static mut Shared> {
    let p = SHARED.load(Ordering::Acquire);
    if p.is_null() {
        return Err(report(Error::InvalidState(
            "mkt.decision_log = 'group_commit' needs pg_marketing in shared_preload_libraries (then restart the server); set mkt.decision_log = 'in_transaction' to log decisions in the deciding transaction"
                .to_string(),
        )));
    }
    // SAFETY: the segment lives as long as the server; every field but a slot's state is read and
    // written only under its lock.
    Ok(unsafe { &mut *p })
}

/// The queue's lock, held while the guard lives.
struct Locked<'a>(&'a mut Shared);

impl<'a> Locked<'a> {
    fn new(s: &'a mut Shared) -> Self {
        // SAFETY: a valid LWLock of the segment; released on drop, also when an error unwinds.
        unsafe { pg_sys::LWLockAcquire(s.lock, pg_sys::LWLockMode::LW_EXCLUSIVE) };
        Locked(s)
    }

    fn writer(&mut self, db: pg_sys::Oid) -> Option<&mut Writer> {
        self.0.writers.iter_mut().find(|w| w.db == db && (w.pid != 0 || w.starting_at != 0))
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        // SAFETY: taken in new.
        unsafe { pg_sys::LWLockRelease(self.0.lock) };
    }
}

fn now() -> pg_sys::TimestampTz {
    // SAFETY: a plain clock read.
    unsafe { pg_sys::GetCurrentTimestamp() }
}

fn my_db() -> pg_sys::Oid {
    // SAFETY: a plain global of the backend.
    unsafe { pg_sys::MyDatabaseId }
}

/// Fails unless the queue exists (the library was preloaded).
pub fn require() -> SqlResult<()> {
    shared().map(|_| ())
}

/// Logs `record` through the database's writer. Ok(true): committed. Ok(false): the writer could
/// not take it, and the caller inserts it itself.
pub fn log(record: &LogRecord) -> SqlResult<bool> {
    let s = shared()?;
    // SAFETY: a plain global of the backend.
    if unsafe { pg_sys::XactIsoLevel } >= pg_sys::XACT_REPEATABLE_READ as i32 {
        // The transaction's snapshot would not see a row another transaction commits now, so a
        // reward later in it could not find its decision.
        return Ok(false);
    }
    let mut bytes = [0u8; SLOT_BYTES];
    let Some(len) = record.encode(&mut bytes) else {
        return Ok(false);
    };
    let db = my_db();
    let (index, writer_latch, start) = {
        let mut l = Locked::new(s);
        let Some(index) = l.0.slots.iter().position(|x| x.state.load(Ordering::Acquire) == FREE) else {
            return Ok(false);
        };
        let t = now();
        let (latch, start) = match l.writer(db) {
            Some(w) if w.pid != 0 => (w.latch, false),
            Some(w) if t - w.starting_at < WRITER_START_MICROS => (std::ptr::null_mut(), false),
            Some(w) => {
                w.starting_at = t;
                (std::ptr::null_mut(), true)
            }
            None => match l.0.writers.iter_mut().find(|w| w.pid == 0 && w.starting_at == 0) {
                Some(w) => {
                    *w = Writer { db, pid: 0, latch: std::ptr::null_mut(), starting_at: t };
                    (std::ptr::null_mut(), true)
                }
                None => return Ok(false),
            },
        };
        let slot = &mut l.0.slots[index];
        slot.db = db;
        // SAFETY: the backend's own latch, in shared memory for as long as the backend lives.
        slot.waiter = unsafe { pg_sys::MyLatch };
        slot.len = len as u32;
        slot.data[..len].copy_from_slice(&bytes[..len]);
        slot.state.store(QUEUED, Ordering::Release);
        (index, latch, start)
    };
    let mut wait = Waiting { s, index, finished: false };
    if start && !launch(db) {
        return Ok(wait.reclaim());
    }
    if !writer_latch.is_null() {
        // SAFETY: a latch in shared memory; at worst a process that reused it wakes once.
        unsafe { pg_sys::SetLatch(writer_latch) };
    }
    wait.until_written()
}

fn launch(db: pg_sys::Oid) -> bool {
    BackgroundWorkerBuilder::new("pg_marketing decision log writer")
        .set_type("pg_marketing decision log writer")
        .set_library("pg_marketing")
        .set_function("pg_marketing_decision_log_writer")
        .set_argument(Some(pg_sys::Datum::from(db.to_u32())))
        .enable_spi_access()
        .set_start_time(BgWorkerStartTime::RecoveryFinished)
        .set_restart_time(None)
        .load_dynamic()
        .is_ok()
}

/// A decide's slot while it waits; dropped by an error (a cancel) before the writer finished, it
/// takes a queued row back or leaves a taken one to the writer.
struct Waiting {
    s: &'static mut Shared,
    index: usize,
    finished: bool,
}

impl Waiting {
    fn state(&self) -> u32 {
        self.s.slots[self.index].state.load(Ordering::Acquire)
    }

    fn free(&mut self) {
        self.finished = true;
        self.s.slots[self.index].state.store(FREE, Ordering::Release);
    }

    /// Takes the row back for the caller to insert (false), unless the writer got it meanwhile.
    fn reclaim(&mut self) -> bool {
        let index = self.index;
        let l = Locked::new(self.s);
        let slot = &l.0.slots[index];
        let state = slot.state.load(Ordering::Acquire);
        if state == QUEUED || state == FAILED {
            slot.state.store(FREE, Ordering::Release);
            drop(l);
            self.finished = true;
            return false;
        }
        drop(l);
        false
    }

    fn writer_gone(&mut self) -> bool {
        let db = self.s.slots[self.index].db;
        let t = now();
        let mut l = Locked::new(self.s);
        match l.writer(db) {
            Some(w) => w.pid == 0 && t - w.starting_at >= WRITER_START_MICROS,
            None => true,
        }
    }

    fn until_written(mut self) -> SqlResult<bool> {
        loop {
            match self.state() {
                DONE => {
                    let lsn = self.s.slots[self.index].lsn;
                    self.free();
                    // The writer commits without waiting for the flush; each decide waits for
                    // its own, so the writer goes on with the next batch meanwhile and the
                    // deciders' flushes combine as committing backends' do.
                    // SAFETY: a WAL position this server wrote; flushing is allowed anywhere.
                    unsafe { pg_sys::XLogFlush(lsn) };
                    return Ok(true);
                }
                FAILED => {
                    self.free();
                    return Ok(false);
                }
                _ => {}
            }
            // SAFETY: the backend's own latch, waited on from its main thread.
            let events = unsafe {
                let e = pg_sys::WaitLatch(
                    pg_sys::MyLatch,
                    (pg_sys::WL_LATCH_SET | pg_sys::WL_TIMEOUT | pg_sys::WL_EXIT_ON_PM_DEATH) as i32,
                    1000,
                    pg_sys::PG_WAIT_EXTENSION,
                );
                pg_sys::ResetLatch(pg_sys::MyLatch);
                e
            };
            pgrx::check_for_interrupts!();
            if events & pg_sys::WL_TIMEOUT as i32 != 0 && self.writer_gone() {
                // A writer that died mid-batch rolled its rows back: they are the caller's again.
                let l = Locked::new(self.s);
                let slot = &mut l.0.slots[self.index];
                let state = slot.state.load(Ordering::Acquire);
                if state == DONE {
                    continue;
                }
                slot.state.store(FREE, Ordering::Release);
                drop(l);
                self.finished = true;
                return Ok(false);
            }
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let index = self.index;
        let l = Locked::new(self.s);
        let slot = &l.0.slots[index];
        match slot.state.load(Ordering::Acquire) {
            TAKEN => slot.state.store(ABANDONED, Ordering::Release),
            _ => slot.state.store(FREE, Ordering::Release),
        }
    }
}

/// The writer of one database: connects, announces itself, and commits what is queued until it has
/// been idle for WRITER_IDLE or is told to stop.
#[pg_guard]
#[no_mangle]
pub extern "C-unwind" fn pg_marketing_decision_log_writer(arg: pg_sys::Datum) {
    let db = pg_sys::Oid::from(arg.value() as u32);
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGTERM);
    BackgroundWorker::connect_worker_to_spi_by_oid(Some(db), None);
    let Ok(s) = shared() else { return };
    {
        let mut l = Locked::new(s);
        if l.writer(db).is_some_and(|w| w.pid != 0) {
            return; // another writer of this database runs
        }
        let Some(w) = l.writer(db) else {
            return; // not asked for (its entry was taken back)
        };
        // SAFETY: plain globals of this process.
        unsafe {
            w.pid = pg_sys::MyProcPid;
            w.latch = pg_sys::MyLatch;
        }
        w.starting_at = 0;
        // SAFETY: registers a plain function with its argument for this process's exit.
        unsafe { pg_sys::before_shmem_exit(Some(writer_exit), arg) };
    }
    // Each decide waits for the WAL flush of its own row (see until_written).
    // SAFETY: sets a setting of this session, from its main thread.
    unsafe {
        pg_sys::SetConfigOption(
            c"synchronous_commit".as_ptr(),
            c"off".as_ptr(),
            pg_sys::GucContext::PGC_SUSET,
            pg_sys::GucSource::PGC_S_SESSION,
        )
    };
    let mut idle_since = Instant::now();
    loop {
        let batch = take(s, db);
        if batch.is_empty() {
            let idle = idle_since.elapsed();
            if idle >= WRITER_IDLE {
                if retire(s, db) {
                    return;
                }
                continue;
            }
            if !BackgroundWorker::wait_latch(Some(WRITER_IDLE - idle)) {
                return;
            }
            continue;
        }
        let ok = write(&batch);
        // SAFETY: a plain global of this process, set by the commit that write just made.
        let lsn = unsafe { pg_sys::XactLastCommitEnd };
        finish(s, &batch, ok, lsn);
        idle_since = Instant::now();
    }
}

/// Clears this writer's entry however the process ends, so that decides stop waiting for it.
#[pg_guard]
unsafe extern "C-unwind" fn writer_exit(_code: i32, arg: pg_sys::Datum) {
    let db = pg_sys::Oid::from(arg.value() as u32);
    if let Ok(s) = shared() {
        // SAFETY: a plain global of this process.
        let me = unsafe { pg_sys::MyProcPid };
        let l = Locked::new(s);
        if let Some(w) = l.0.writers.iter_mut().find(|w| w.db == db && w.pid == me) {
            *w = Writer { db: pg_sys::Oid::INVALID, pid: 0, latch: std::ptr::null_mut(), starting_at: 0 };
        }
    }
}

/// Stops being the writer unless rows arrived since the last look; under the same lock, so that a
/// decide either sees this writer gone (and starts another) or queues a row this one takes.
fn retire(s: &mut Shared, db: pg_sys::Oid) -> bool {
    let mut l = Locked::new(s);
    if l.0.slots.iter().any(|x| x.db == db && x.state.load(Ordering::Acquire) == QUEUED) {
        return false;
    }
    if let Some(w) = l.writer(db) {
        *w = Writer { db: pg_sys::Oid::INVALID, pid: 0, latch: std::ptr::null_mut(), starting_at: 0 };
    }
    true
}

/// The queued rows of `db`, marked taken: (slot, record).
fn take(s: &mut Shared, db: pg_sys::Oid) -> Vec<(usize, Option<LogRecord>)> {
    let l = Locked::new(s);
    let mut out = Vec::new();
    for (i, x) in l.0.slots.iter().enumerate() {
        if x.db == db && x.state.load(Ordering::Acquire) == QUEUED {
            x.state.store(TAKEN, Ordering::Release);
            out.push((i, LogRecord::decode(&x.data[..x.len as usize])));
        }
    }
    out
}

fn write(batch: &[(usize, Option<LogRecord>)]) -> bool {
    let rows: Vec<&LogRecord> = batch.iter().filter_map(|(_, r)| r.as_ref()).collect();
    if rows.len() < batch.len() {
        return false;
    }
    let outcome = PgTryBuilder::new(|| {
        BackgroundWorker::transaction(|| crate::policies::catalog::decisions::log_records(&rows).is_ok())
    })
    .catch_others(|_| false)
    .execute();
    if !outcome {
        // SAFETY: leaves the failed batch's transaction, if one is open, before the next.
        unsafe {
            if pg_sys::IsTransactionState() {
                pg_sys::AbortCurrentTransaction();
            }
        }
    }
    outcome
}

fn finish(s: &mut Shared, batch: &[(usize, Option<LogRecord>)], ok: bool, lsn: pg_sys::XLogRecPtr) {
    let mut wake = Vec::with_capacity(batch.len());
    {
        let mut l = Locked::new(s);
        for (i, _) in batch {
            let slot = &mut l.0.slots[*i];
            if slot.state.load(Ordering::Acquire) == ABANDONED {
                slot.state.store(FREE, Ordering::Release);
            } else {
                wake.push(slot.waiter);
                slot.lsn = lsn;
                slot.state.store(if ok { DONE } else { FAILED }, Ordering::Release);
            }
        }
    }
    for latch in wake {
        // SAFETY: the waiting backend's latch in shared memory.
        unsafe { pg_sys::SetLatch(latch) };
    }
}
