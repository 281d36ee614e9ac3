//! `scopegate serve` as a child process logging JSON lines: its address, and its log events
//! as they come (read on a thread of their own, awaited without blocking a Tokio worker).

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, ExitStatus, Stdio},
    time::Duration,
};

use serde_json::Value;
use tokio::sync::mpsc;

/// Bound on waiting for the server: far above what any test needs.
const PATIENCE: Duration = Duration::from_secs(30);

pub struct Served {
    pub addr: String,
    child: Child,
    events: mpsc::UnboundedReceiver<Value>,
    stdout: mpsc::UnboundedReceiver<String>,
}

impl Served {
    /// Starts `scopegate --log-json serve` on port 0 with a SQLite database in `dir` and
    /// `args`, at the default log level; returns once it logs where it listens.
    pub async fn start(dir: &Path, args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_scopegate"))
            .args(["--log-json", "serve", "--listen", "127.0.0.1:0"])
            .arg("--database-url")
            .arg(format!("sqlite://{}/scopegate.db", dir.display()))
            .args(args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = lines(child.stdout.take().unwrap());
        let stderr = child.stderr.take().unwrap();
        let (tx, events) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(event) = serde_json::from_str::<Value>(&line) {
                    let _ = tx.send(event);
                }
            }
        });
        let mut served = Self {
            addr: String::new(),
            child,
            events,
            stdout,
        };
        let listening = served
            .event(|e| e["fields"]["message"] == "listening")
            .await;
        served.addr = listening["fields"]["addr"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        served
    }

    /// The next log event that satisfies `wanted` (bounded wait).
    pub async fn event(&mut self, wanted: impl Fn(&Value) -> bool) -> Value {
        let found = tokio::time::timeout(PATIENCE, async {
            while let Some(event) = self.events.recv().await {
                if wanted(&event) {
                    return Some(event);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(event)) => event,
            Ok(None) => panic!("the server exited without logging the event"),
            Err(_) => panic!("the server did not log the event in time"),
        }
    }

    /// The next line the server printed on stdout that satisfies `wanted` (bounded wait).
    pub async fn stdout_line(&mut self, wanted: impl Fn(&str) -> bool) -> String {
        let found = tokio::time::timeout(PATIENCE, async {
            while let Some(line) = self.stdout.recv().await {
                if wanted(&line) {
                    return Some(line);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(line)) => line,
            Ok(None) => panic!("the server closed stdout without printing the line"),
            Err(_) => panic!("the server did not print the line in time"),
        }
    }

    /// Sends SIGTERM, waits for the process to exit, and returns the stdout lines not read yet.
    pub async fn terminate_reading_stdout(mut self) -> (ExitStatus, Vec<String>) {
        let mut stdout = std::mem::replace(&mut self.stdout, mpsc::unbounded_channel().1);
        let status = self.terminate().await;
        let mut rest = Vec::new();
        // The process has exited: its stdout is closed, so this ends.
        let drained = tokio::time::timeout(PATIENCE, async {
            while let Some(line) = stdout.recv().await {
                rest.push(line);
            }
        })
        .await;
        assert!(drained.is_ok(), "stdout did not close after exit");
        (status, rest)
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub async fn terminate(mut self) -> ExitStatus {
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        tokio::task::spawn_blocking(move || self.child.wait())
            .await
            .unwrap()
            .unwrap()
    }
}

/// The lines of `stream`, read on a thread of their own until it closes.
fn lines(stream: impl std::io::Read + Send + 'static) -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}
