//! The server's certificate, swapped in place when its files change: a resolver rustls asks on
//! every handshake, and a task that polls the files' metadata (modification time, length,
//! inode: an atomic rename changes the inode) and loads a changed pair. A pair that does not
//! load (unreadable, expired, key not matching) is logged and the current one keeps serving;
//! connections already open are never touched.

use std::{
    path::PathBuf,
    sync::{Arc, PoisonError, RwLock},
    time::{Duration, SystemTime},
};

use rustls::{
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
};
use tokio::time::MissedTickBehavior;

use super::files;

/// The current certificate and key, and where they come from.
#[derive(Debug)]
pub(crate) struct ReloadingCert {
    current: RwLock<Arc<CertifiedKey>>,
    cert: PathBuf,
    key: PathBuf,
}

impl ReloadingCert {
    /// Loads the pair (errors name the file).
    pub(crate) fn load(cert: PathBuf, key: PathBuf) -> Result<Self, String> {
        let pair = files::load_pair(&cert, &key)?;
        Ok(Self {
            current: RwLock::new(Arc::new(pair)),
            cert,
            key,
        })
    }

    /// Polls the files every `every` and swaps in a changed pair that loads; never returns.
    pub(crate) async fn watch(self: Arc<Self>, every: Duration) {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut seen = self.stamps();
        loop {
            ticker.tick().await;
            let now = self.stamps();
            if now == seen {
                continue;
            }
            seen = now;
            let (cert, key) = (self.cert.clone(), self.key.clone());
            let loaded = tokio::task::spawn_blocking(move || files::load_pair(&cert, &key))
                .await
                .unwrap_or_else(|e| Err(format!("the reload task failed: {e}")));
            match loaded {
                Ok(pair) => {
                    *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(pair);
                    metrics::counter!("scopegate_tls_reloads_total", "outcome" => "loaded")
                        .increment(1);
                    tracing::info!(cert = %self.cert.display(), "TLS certificate reloaded");
                }
                Err(err) => {
                    metrics::counter!("scopegate_tls_reloads_total", "outcome" => "refused")
                        .increment(1);
                    tracing::error!(%err, "TLS certificate not reloaded: the current one keeps serving");
                }
            }
        }
    }

    fn stamps(&self) -> (Option<Stamp>, Option<Stamp>) {
        (Stamp::of(&self.cert), Stamp::of(&self.key))
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self.current.read().unwrap_or_else(PoisonError::into_inner),
        ))
    }
}

/// What says a file changed (symbolic links followed, as Kubernetes secret volumes use them).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl Stamp {
    fn of(path: &std::path::Path) -> Option<Self> {
        let meta = std::fs::metadata(path).ok()?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&meta);
        #[cfg(not(unix))]
        let inode = 0;
        Some(Self {
            modified: meta.modified().ok(),
            len: meta.len(),
            inode,
        })
    }
}
