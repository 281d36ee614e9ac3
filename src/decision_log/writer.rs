//! The writer thread: takes events off the bounded queue, renders them, and appends them to
//! stdout or to a file that it rotates by size. It runs off the async runtime and never makes
//! a decision wait: it polls the queue (so a sender never has to wake it while decisions flow),
//! writes in batches, and drops and counts what it cannot write.

use std::{
    fs::{File, OpenOptions},
    io::{self, Write as _},
    path::{Path, PathBuf},
    sync::{
        Arc, Condvar, Mutex,
        atomic::{AtomicBool, Ordering},
        mpsc::{Receiver, SyncSender, TryRecvError},
    },
    time::Duration,
};

use super::{Counters, event::Event};

/// What the queue carries.
#[derive(Debug)]
pub(super) enum Message {
    Event(Box<Event>),
    /// Write out everything queued before this, then answer.
    Flush(SyncSender<()>),
}

/// How long the writer sleeps when the queue is empty, while decisions are flowing.
const POLL: Duration = Duration::from_millis(10);
/// Empty polls in a row after which the writer blocks on the queue instead (an idle server
/// does not wake 100 times a second; the next sender wakes it).
const IDLE_POLLS: u32 = 100;
/// A batch larger than this is written out without waiting for the queue to empty.
const BATCH_BYTES: usize = 64 * 1024;

/// Where lines go.
#[derive(Debug)]
pub(super) enum Target {
    Stdout,
    File(RotatingFile),
}

/// A file rotated by size: `path` is renamed `path.1` (and `path.1` `path.2`, … up to
/// `path.{keep}`, the oldest removed) before a write would take it past `max_bytes`.
#[derive(Debug)]
pub(super) struct RotatingFile {
    path: PathBuf,
    max_bytes: u64,
    keep: usize,
    /// `None` after a failed reopen: retried before each batch.
    file: Option<File>,
    size: u64,
}

impl RotatingFile {
    /// Opens `path` for append (creating it). The error is what `serve` refuses to start with.
    pub fn open(path: &Path, max_bytes: u64, keep: usize) -> io::Result<Self> {
        let file = append(path)?;
        let size = file.metadata()?.len();
        Ok(Self {
            path: path.to_owned(),
            max_bytes: max_bytes.max(1),
            keep,
            file: Some(file),
            size,
        })
    }

    /// Writes `batch` (whole lines), rotating before a line that would pass the size bound;
    /// returns how many lines were lost to write errors.
    fn write(&mut self, batch: &[u8]) -> u64 {
        let mut lost = 0;
        let mut pending: &[u8] = batch;
        while !pending.is_empty() {
            // As many whole lines as fit (at least one, in a fresh file).
            let room = self.max_bytes.saturating_sub(self.size);
            let mut take = 0;
            if pending.len() as u64 <= room {
                // All of it fits (the usual case): no need to look for line ends.
                take = pending.len();
            } else {
                for line in pending.split_inclusive(|&b| b == b'\n') {
                    if (take + line.len()) as u64 > room && (take > 0 || self.size > 0) {
                        break;
                    }
                    take += line.len();
                }
            }
            if take == 0 {
                self.rotate();
                continue;
            }
            let (chunk, rest) = pending.split_at(take);
            pending = rest;
            if self.file.is_none() {
                self.file = append(&self.path).ok();
                self.size = 0;
            }
            let written = match &mut self.file {
                Some(file) => file.write_all(chunk).is_ok(),
                None => false,
            };
            if written {
                self.size += chunk.len() as u64;
            } else {
                lost += lines(chunk);
                self.file = None;
            }
        }
        lost
    }

    /// `path` → `path.1` → … → `path.{keep}` (dropped), then a fresh `path`.
    fn rotate(&mut self) {
        self.file = None;
        let numbered = |n: usize| {
            let mut name = self.path.clone().into_os_string();
            name.push(format!(".{n}"));
            PathBuf::from(name)
        };
        if self.keep == 0 {
            let _ = std::fs::remove_file(&self.path);
        } else {
            let _ = std::fs::remove_file(numbered(self.keep));
            for n in (1..self.keep).rev() {
                let _ = std::fs::rename(numbered(n), numbered(n + 1));
            }
            if let Err(err) = std::fs::rename(&self.path, numbered(1)) {
                tracing::error!(%err, file = %self.path.display(), "cannot rotate the decision log");
            }
        }
        self.file = append(&self.path).ok();
        self.size = 0;
    }
}

fn append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

fn lines(chunk: &[u8]) -> u64 {
    chunk.iter().filter(|&&b| b == b'\n').count() as u64
}

impl Target {
    /// Writes a batch of whole lines; returns how many were lost.
    fn write(&mut self, batch: &[u8]) -> u64 {
        match self {
            Self::Stdout => {
                let mut out = io::stdout().lock();
                match out.write_all(batch).and_then(|()| out.flush()) {
                    Ok(()) => 0,
                    Err(_) => lines(batch),
                }
            }
            Self::File(file) => file.write(batch),
        }
    }
}

/// A test's hold on the writer: while it is held, the writer takes no event off the queue
/// (beyond the one it may be holding), so the queue fills.
#[derive(Debug, Default)]
pub(super) struct Gate {
    held: AtomicBool,
    lock: Mutex<()>,
    opened: Condvar,
}

impl Gate {
    pub fn hold(&self) {
        self.held.store(true, Ordering::SeqCst);
    }

    pub fn release(&self) {
        let _guard = self.lock.lock();
        self.held.store(false, Ordering::SeqCst);
        self.opened.notify_all();
    }

    /// Waits while the gate is held (one atomic load when it is not).
    fn pass(&self) {
        if !self.held.load(Ordering::SeqCst) {
            return;
        }
        let mut guard = self
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while self.held.load(Ordering::SeqCst) {
            guard = self
                .opened
                .wait(guard)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }
}

/// The writer's loop; returns when every sender is gone.
pub(super) fn run(
    queue: &Receiver<Message>,
    mut target: Target,
    gate: &Gate,
    counters: &Arc<Counters>,
) {
    let mut batch: Vec<u8> = Vec::with_capacity(BATCH_BYTES * 2);
    let mut queued = 0u64;
    let mut empty_polls = 0u32;
    let write_out = |batch: &mut Vec<u8>, queued: &mut u64, target: &mut Target| {
        if !batch.is_empty() {
            let lost = target.write(batch);
            counters.written(*queued - lost);
            counters.dropped_write(lost);
            batch.clear();
        }
        *queued = 0;
    };
    loop {
        let message = match queue.try_recv() {
            Ok(message) => message,
            Err(TryRecvError::Disconnected) => break,
            Err(TryRecvError::Empty) => {
                write_out(&mut batch, &mut queued, &mut target);
                empty_polls = empty_polls.saturating_add(1);
                if empty_polls <= IDLE_POLLS {
                    // Sleeping rather than waiting on the queue: a sender never has to wake
                    // the writer (a syscall on the request path) while decisions flow.
                    #[expect(
                        clippy::disallowed_methods,
                        reason = "the writer's own std thread, not a runtime worker; a poll \
                                  interval, not synchronisation"
                    )]
                    std::thread::sleep(POLL);
                    continue;
                }
                match queue.recv() {
                    Ok(message) => message,
                    Err(_) => break,
                }
            }
        };
        gate.pass();
        match message {
            Message::Event(event) => {
                empty_polls = 0;
                event.write_line(&mut batch);
                queued += 1;
                if batch.len() >= BATCH_BYTES {
                    write_out(&mut batch, &mut queued, &mut target);
                }
            }
            Message::Flush(done) => {
                write_out(&mut batch, &mut queued, &mut target);
                let _ = done.send(());
            }
        }
    }
    write_out(&mut batch, &mut queued, &mut target);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_default()
    }

    #[test]
    fn a_file_rotates_before_a_line_would_pass_its_bound_and_keeps_only_keep_files() {
        let dir = tempfile::tempdir().unwrap_or_else(|_| unreachable!());
        let path = dir.path().join("decisions.jsonl");
        let mut file = RotatingFile::open(&path, 20, 2).unwrap_or_else(|_| unreachable!());

        for n in 0..5 {
            assert_eq!(file.write(format!("line {n} ........\n").as_bytes()), 0);
        }

        assert_eq!(read(&path), "line 4 ........\n");
        assert_eq!(
            read(&dir.path().join("decisions.jsonl.1")),
            "line 3 ........\n"
        );
        assert_eq!(
            read(&dir.path().join("decisions.jsonl.2")),
            "line 2 ........\n"
        );
        assert!(!dir.path().join("decisions.jsonl.3").exists());
    }

    #[test]
    fn several_lines_that_fit_share_a_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|_| unreachable!());
        let path = dir.path().join("d");
        let mut file = RotatingFile::open(&path, 10, 1).unwrap_or_else(|_| unreachable!());

        assert_eq!(file.write(b"aaaa\nbbbb\ncccc\n"), 0);

        assert_eq!(read(&path), "cccc\n");
        assert_eq!(read(&dir.path().join("d.1")), "aaaa\nbbbb\n");
    }

    #[test]
    fn a_line_longer_than_the_bound_is_written_alone_in_its_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|_| unreachable!());
        let path = dir.path().join("d");
        let mut file = RotatingFile::open(&path, 4, 1).unwrap_or_else(|_| unreachable!());

        assert_eq!(file.write(b"longer line\nx\n"), 0);

        assert_eq!(read(&path), "x\n");
        assert_eq!(read(&dir.path().join("d.1")), "longer line\n");
    }
}
