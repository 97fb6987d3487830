//! The work queue of the background compression threads: write-back of
//! full dirty blocks and read-ahead decoding, each kind with its own
//! backlog bound, and the worker loop that runs them.

use super::{Block, BlockOwner, Shared};
use std::collections::VecDeque;
use std::sync::{Arc, Weak};

/// What a background thread is asked to do with block `no` of `owner`.
enum JobKind {
    /// Write this (dirty, full) block back.
    WriteBack(Weak<Block>),
    /// Decode the block ahead of a sequential reader.
    ReadAhead,
}

pub(super) struct Job {
    no: u64,
    owner: Weak<dyn BlockOwner>,
    kind: JobKind,
    /// Bytes of the block (what the job holds or will allocate).
    bytes: u64,
}

/// Jobs waiting of one kind (write-back or read-ahead).
#[derive(Default)]
pub(super) struct Backlog {
    jobs: usize,
    bytes: u64,
}

pub(super) struct Queue {
    pub(super) jobs: VecDeque<Job>,
    /// Waiting write-back jobs and read-ahead jobs: each kind may queue
    /// up to a quarter of the budget (and always `2 * workers` jobs), so
    /// a sequential writer hands its blocks off without stalling and a
    /// sequential reader's window is decoded ahead, without the queued
    /// blocks ever being the LRU's oldest ones.
    pub(super) write_back: Backlog,
    pub(super) read_ahead: Backlog,
    pub(super) stop: bool,
}

/// Most bytes decoded ahead of one sequential reader.
pub(super) const MAX_READ_AHEAD: u64 = 4 << 20;

impl Queue {
    /// The backlog that counts jobs of `kind`.
    fn backlog(&mut self, kind: &JobKind) -> &mut Backlog {
        match kind {
            JobKind::WriteBack(_) => &mut self.write_back,
            JobKind::ReadAhead => &mut self.read_ahead,
        }
    }
}

impl Shared {
    /// Hands a full dirty block to the compression threads. Returns false
    /// if there are none or their backlog is full: the caller decides.
    pub(crate) fn submit(&self, no: u64, owner: Weak<dyn BlockOwner>, block: &Arc<Block>) -> bool {
        self.push(Job {
            no,
            owner,
            kind: JobKind::WriteBack(Arc::downgrade(block)),
            bytes: block.len,
        })
    }

    /// Jobs waiting for a thread (tests: to know a thread has taken one).
    #[cfg(test)]
    pub(crate) fn queued_jobs(&self) -> usize {
        self.queue.lock().jobs.len()
    }

    /// Whether there are compression threads (`submit` can succeed).
    pub(crate) fn has_workers(&self) -> bool {
        self.workers > 0
    }

    /// Asks the background threads to decode block `no` (of `bytes`) ahead
    /// of a sequential reader. Returns false (and queues nothing) when
    /// their read-ahead backlog is full.
    pub(crate) fn submit_prefetch(&self, no: u64, bytes: u64, owner: Weak<dyn BlockOwner>) -> bool {
        self.push(Job {
            no,
            owner,
            kind: JobKind::ReadAhead,
            bytes,
        })
    }

    /// Most bytes worth decoding ahead of one sequential reader: an
    /// eighth of the budget, at most [`MAX_READ_AHEAD`] (0 without
    /// background threads).
    pub(crate) fn read_ahead_bytes(&self) -> u64 {
        if self.workers == 0 {
            return 0;
        }
        (self.budget / 8).min(MAX_READ_AHEAD)
    }

    /// Whether the compression threads are behind the writers: more
    /// write-back jobs wait than the threads can take at once and they
    /// hold at least half of what the backlog may hold. Write-back then
    /// codes at the cheaper level (`Compression::under_pressure`).
    fn behind(&self, q: &Queue) -> bool {
        q.write_back.jobs >= self.queue_cap && q.write_back.bytes >= self.budget / 8
    }

    fn push(&self, job: Job) -> bool {
        if self.workers == 0 {
            return false;
        }
        let mut q = self.queue.lock();
        if q.stop {
            return false;
        }
        let cap = self.queue_cap;
        let limit = self.budget / 4;
        let bytes = job.bytes;
        let log = q.backlog(&job.kind);
        if log.jobs >= cap && log.bytes + bytes > limit {
            return false;
        }
        log.jobs += 1;
        log.bytes += bytes;
        q.jobs.push_back(job);
        drop(q);
        self.queue_cv.notify_one();
        true
    }

    pub(super) fn worker(&self) {
        loop {
            let (job, behind) = {
                let mut q = self.queue.lock();
                loop {
                    if let Some(j) = q.jobs.pop_front() {
                        let log = q.backlog(&j.kind);
                        log.jobs -= 1;
                        log.bytes -= j.bytes;
                        let behind = self.behind(&q);
                        break (j, behind);
                    }
                    if q.stop {
                        return;
                    }
                    self.queue_cv.wait(&mut q);
                }
            };
            let Some(owner) = job.owner.upgrade() else {
                continue;
            };
            match job.kind {
                JobKind::WriteBack(block) => {
                    if let Some(block) = block.upgrade() {
                        owner.write_back(job.no, &block, behind);
                    }
                }
                JobKind::ReadAhead => {
                    owner.prefetch(job.no);
                    self.shrink();
                }
            }
        }
    }
}
