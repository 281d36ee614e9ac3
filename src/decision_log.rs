//! Decision ids and the decision log: the one place that names a decision and records it.
//! Every door (`CheckScopes`, Envoy ext_authz, forward auth, AuthZEN) hands its decision to
//! [`DecisionLog::decided`], which returns the decision's id (UUID v7, [`DecisionId`]) and, as
//! `--decision-log` says (`off`, `denied`, `all`), queues one event for the writer thread
//! (`decision_log/writer.rs`), which renders it as a JSON line (`decision_log/event.rs`) to
//! stdout or to a size-rotated file. The queue is bounded: when it is full the event is dropped
//! and counted (`scopegate_decision_log_dropped_total`), never waited for.

mod event;
mod id;
mod writer;

use std::{
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
        mpsc::{SyncSender, TrySendError},
    },
    time::Duration,
};

pub use self::id::DecisionId;
use self::{
    event::Event,
    writer::{Gate, Message, RotatingFile, Target},
};
use crate::{
    caller::Caller,
    scope::{Reason, Requirement},
    token::{VerifiedToken, token_fingerprint_bytes},
};

/// Which decisions are logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// None (decisions still get ids).
    Off,
    /// Denials only: the default.
    #[default]
    Denied,
    /// Every decision.
    All,
}

impl std::str::FromStr for Mode {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        match raw {
            "off" => Ok(Self::Off),
            "denied" => Ok(Self::Denied),
            "all" => Ok(Self::All),
            _ => Err("expected off, denied or all".to_owned()),
        }
    }
}

/// The door a decision came through (the event's `door`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// `scopegate.v1.ScopeDecision/CheckScopes`, one per check of a batch.
    CheckScopes,
    /// Envoy `envoy.service.auth.v3.Authorization/Check`.
    ExtAuthz,
    /// `/v1/authorize` on the HTTP door.
    ForwardAuth,
    /// AuthZEN evaluations on the HTTP door, one per evaluation.
    Authzen,
}

impl Door {
    /// The name in events.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CheckScopes => "check_scopes",
            Self::ExtAuthz => "ext_authz",
            Self::ForwardAuth => "forward_auth",
            Self::Authzen => "authzen",
        }
    }
}

/// Default `--decision-log-max-bytes`: 100 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 100 * 1024 * 1024;
/// Default `--decision-log-keep`.
pub const DEFAULT_KEEP: usize = 5;
/// Default queue capacity: events waiting for the writer.
pub const DEFAULT_QUEUE: usize = 16_384;

/// The decision log's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionLogSettings {
    pub mode: Mode,
    /// Append to this file (rotated by size); `None`: stdout, one JSON line per event.
    pub file: Option<PathBuf>,
    /// A file is rotated before a line would take it past this size.
    pub max_bytes: u64,
    /// Rotated files kept (`file.1` newest … `file.{keep}`).
    pub keep: usize,
    /// Events the queue holds before it drops (not a flag: tests make it small).
    pub queue: usize,
}

impl Default for DecisionLogSettings {
    fn default() -> Self {
        Self {
            mode: Mode::default(),
            file: None,
            max_bytes: DEFAULT_MAX_BYTES,
            keep: DEFAULT_KEEP,
            queue: DEFAULT_QUEUE,
        }
    }
}

/// What the log counts (also exported as metrics).
#[derive(Debug, Default)]
struct Counters {
    written: AtomicU64,
    dropped: AtomicU64,
    /// Unix seconds of the last drop warning (0: never): at most one a minute.
    warned_at: AtomicU64,
}

/// Seconds between two warnings about dropped events.
const WARN_EVERY_SECONDS: u64 = 60;

impl Counters {
    fn written(&self, n: u64) {
        self.written.fetch_add(n, Ordering::Relaxed);
    }

    fn dropped_full(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("scopegate_decision_log_dropped_total", "cause" => "queue_full")
            .increment(1);
        self.warn_rarely("queue_full");
    }

    fn dropped_write(&self, n: u64) {
        if n > 0 {
            self.dropped.fetch_add(n, Ordering::Relaxed);
            metrics::counter!("scopegate_decision_log_dropped_total", "cause" => "write_error")
                .increment(n);
            self.warn_rarely("write_error");
        }
    }

    /// Says so in the service's log, at most once a minute (a full queue under a flood must not
    /// turn into a flood of warnings): an operator who does not watch the metric still learns
    /// that decisions go unrecorded.
    fn warn_rarely(&self, cause: &'static str) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let last = self.warned_at.load(Ordering::Relaxed);
        if (last == 0 || now >= last.saturating_add(WARN_EVERY_SECONDS))
            && self
                .warned_at
                .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                cause,
                dropped_total = self.dropped.load(Ordering::Relaxed),
                "decision log events dropped (scopegate_decision_log_dropped_total); decisions are unaffected"
            );
        }
    }
}

/// The decision log: makes ids, queues events. Cheap to clone; the writer thread ends when the
/// last clone is dropped.
#[derive(Debug, Clone)]
pub struct DecisionLog {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    mode: Mode,
    /// `None` when the mode is `off`: there is no writer.
    queue: Option<SyncSender<Message>>,
    counters: Arc<Counters>,
    gate: Arc<Gate>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// A decision as a door hands it to the log: borrowed facts, copied only when the event is
/// logged.
#[derive(Debug, Clone, Copy)]
pub struct Decided<'a> {
    pub door: Door,
    /// The authenticated caller (a request extension), if any.
    pub caller: Option<&'a Caller>,
    /// The tenant that decided, else the (valid) tenant id asked for; empty when neither.
    pub tenant: &'a str,
    /// The bearer token as presented: only its fingerprint is kept.
    pub bearer: Option<&'a str>,
    /// The token's verified facts, when it was active.
    pub verified: Option<&'a Arc<VerifiedToken>>,
    /// The client named by a granted-scopes subject.
    pub client_id: Option<&'a str>,
    /// What was required (`None`: only an active token).
    pub requirement: Option<&'a Requirement>,
    pub allowed: bool,
    /// `CheckScopes`' reason; `None` for a request refused before any decision (bad input,
    /// invalid route settings), logged as [`INVALID_REQUEST`].
    pub reason: Option<Reason>,
    pub missing: &'a [String],
    pub catalog_revision: i64,
}

/// The reason logged for a request that was refused without a decision (bad input, invalid
/// route settings): it is still denied, so it still has an id.
pub const INVALID_REQUEST: &str = "INVALID_REQUEST";

impl DecisionLog {
    /// Starts the log as `settings` say: opens the file for append (the error names it) and
    /// starts the writer thread, unless the mode is `off`.
    pub fn start(settings: &DecisionLogSettings) -> Result<Self, String> {
        let counters = Arc::new(Counters::default());
        let gate = Arc::new(Gate::default());
        if settings.mode == Mode::Off {
            return Ok(Self::with(settings.mode, None, counters, gate, None));
        }
        let target = match &settings.file {
            None => Target::Stdout,
            Some(path) => Target::File(
                RotatingFile::open(path, settings.max_bytes, settings.keep).map_err(|e| {
                    format!(
                        "cannot open the decision log file {} for append: {e}",
                        path.display()
                    )
                })?,
            ),
        };
        let (queue, received) = std::sync::mpsc::sync_channel(settings.queue.max(1));
        let thread_counters = Arc::clone(&counters);
        let thread_gate = Arc::clone(&gate);
        let writer = std::thread::Builder::new()
            .name("decision-log".into())
            .spawn(move || writer::run(&received, target, &thread_gate, &thread_counters))
            .map_err(|e| format!("cannot start the decision log writer: {e}"))?;
        Ok(Self::with(
            settings.mode,
            Some(queue),
            counters,
            gate,
            Some(writer),
        ))
    }

    /// A log that logs nothing (ids only).
    pub fn off() -> Self {
        let counters = Arc::new(Counters::default());
        Self::with(Mode::Off, None, counters, Arc::default(), None)
    }

    fn with(
        mode: Mode,
        queue: Option<SyncSender<Message>>,
        counters: Arc<Counters>,
        gate: Arc<Gate>,
        writer: Option<std::thread::JoinHandle<()>>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                mode,
                queue,
                counters,
                gate,
                writer: Mutex::new(writer),
            }),
        }
    }

    /// Names `decision` and, when the mode logs it, queues its event without waiting: a full
    /// queue drops it (counted). Never fails, never blocks.
    pub fn decided(&self, decision: &Decided<'_>) -> DecisionId {
        let id = DecisionId::new();
        let logged = match self.inner.mode {
            Mode::Off => false,
            Mode::Denied => !decision.allowed,
            Mode::All => true,
        };
        if let (true, Some(queue)) = (logged, &self.inner.queue) {
            let event = Box::new(Event {
                id,
                door: decision.door,
                tenant: decision.tenant.to_owned(),
                caller: decision.caller.cloned(),
                token: decision.verified.cloned(),
                client_id: decision.client_id.map(str::to_owned),
                requirement: decision.requirement.cloned(),
                allowed: decision.allowed,
                reason: decision.reason.map_or(INVALID_REQUEST, Reason::as_str),
                missing: decision.missing.to_vec(),
                catalog_revision: decision.catalog_revision,
                // A cached token's fingerprint is hashed once, not once per decision.
                token_fingerprint: decision.bearer.map(|bearer| match decision.verified {
                    Some(verified) => verified.fingerprint(bearer),
                    None => token_fingerprint_bytes(bearer),
                }),
                trace_id: crate::telemetry::current_trace_id(),
            });
            match queue.try_send(Message::Event(event)) {
                Ok(()) => {}
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                    self.inner.counters.dropped_full();
                }
            }
        }
        id
    }

    /// Events dropped so far (queue full, or a write that failed).
    pub fn dropped(&self) -> u64 {
        self.inner.counters.dropped.load(Ordering::Relaxed)
    }

    /// Events written so far.
    pub fn written(&self) -> u64 {
        self.inner.counters.written.load(Ordering::Relaxed)
    }

    /// Waits (at most `timeout`) until every event queued before this call is written out;
    /// `false` when it timed out. Blocking: call it off the async runtime's worker threads.
    pub fn flush(&self, timeout: Duration) -> bool {
        let Some(queue) = &self.inner.queue else {
            return true;
        };
        let deadline = std::time::Instant::now() + timeout;
        let (done, finished) = std::sync::mpsc::sync_channel(1);
        let mut flush = Message::Flush(done);
        // Never blocks past the deadline, even on a full queue and a stuck writer (a hung disk,
        // a test's hold).
        loop {
            match queue.try_send(flush) {
                Ok(()) => break,
                Err(TrySendError::Full(again)) if std::time::Instant::now() < deadline => {
                    flush = again;
                    std::thread::yield_now();
                }
                Err(_) => return false,
            }
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        finished.recv_timeout(left).is_ok()
    }

    /// Test hook: while held, the writer takes nothing off the queue, so it fills and drops.
    #[doc(hidden)]
    pub fn hold_writer(&self) -> WriterHold {
        self.inner.gate.hold();
        WriterHold(Arc::clone(&self.inner.gate))
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The last handle: close the queue and let the writer write out what it holds.
        self.queue = None;
        self.gate.release();
        let writer = self.writer.get_mut().map(Option::take).unwrap_or_default();
        if let Some(writer) = writer {
            let _ = writer.join();
        }
    }
}

/// Holds the writer until dropped ([`DecisionLog::hold_writer`]).
#[derive(Debug)]
pub struct WriterHold(Arc<Gate>);

impl Drop for WriterHold {
    fn drop(&mut self) {
        self.0.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_are_warned_about_at_most_once_a_minute() {
        let counters = Counters::default();

        counters.dropped_full();
        let first = counters.warned_at.load(Ordering::Relaxed);
        counters.dropped_full();
        counters.dropped_write(3);

        assert!(first > 0, "the first drop warns");
        assert_eq!(
            counters.warned_at.load(Ordering::Relaxed),
            first,
            "not again within a minute"
        );
        assert_eq!(counters.dropped.load(Ordering::Relaxed), 5);
        counters
            .warned_at
            .store(first - WARN_EVERY_SECONDS, Ordering::Relaxed);
        counters.dropped_full();
        let again = counters.warned_at.load(Ordering::Relaxed);
        assert!(
            again >= first,
            "a minute later it warns again ({again} < {first})"
        );
    }

    fn denial() -> Decided<'static> {
        Decided {
            door: Door::CheckScopes,
            caller: None,
            tenant: "school",
            bearer: Some("eyJ.a-token.sig"),
            verified: None,
            client_id: None,
            requirement: None,
            allowed: false,
            reason: Some(Reason::TokenInactive),
            missing: &[],
            catalog_revision: 1,
        }
    }

    #[test]
    fn a_flush_gives_up_at_its_deadline_while_the_writer_is_held_and_the_queue_is_full() {
        let dir = tempfile::tempdir().unwrap_or_else(|_| unreachable!());
        let settings = DecisionLogSettings {
            mode: Mode::All,
            file: Some(dir.path().join("d.jsonl")),
            queue: 1,
            ..DecisionLogSettings::default()
        };
        let log = DecisionLog::start(&settings).unwrap_or_else(|_| unreachable!());

        let hold = log.hold_writer();
        let ids: Vec<DecisionId> = (0..3).map(|_| log.decided(&denial())).collect();
        let while_held = log.flush(Duration::from_millis(50));
        drop(hold);
        let after = log.flush(Duration::from_secs(30));

        assert!(!while_held && after);
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        assert!(log.dropped() >= 1);
        assert_eq!(log.written() + log.dropped(), 3);
    }
}
