//! A tiny HTTP/1.1 JWKS server on 127.0.0.1 that counts requests and answers what the test says.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::support::tenant;
use crate::tenant::{KeySource, Tenant};

/// What the server answers.
#[derive(Clone)]
pub enum Reply {
    Json(String),
    Status(u16),
    /// `302 Found` to this location.
    Redirect(String),
}

pub struct Server {
    pub url: String,
    hits: Arc<AtomicUsize>,
    reply: Arc<Mutex<Reply>>,
}

impl Server {
    pub async fn start(reply: Reply) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().expect("addr")
        );
        let hits = Arc::new(AtomicUsize::new(0));
        let reply = Arc::new(Mutex::new(reply));
        let (h, r) = (Arc::clone(&hits), Arc::clone(&reply));
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(answer(stream, Arc::clone(&h), Arc::clone(&r)));
            }
        });
        Self { url, hits, reply }
    }

    pub fn set(&self, reply: Reply) {
        *self.reply.lock().unwrap_or_else(PoisonError::into_inner) = reply;
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.url
            .trim_start_matches("http://127.0.0.1:")
            .split('/')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port")
    }

    pub fn tenant(&self) -> Tenant {
        tenant(KeySource::Uri(self.url.clone()))
    }
}

async fn answer(mut stream: TcpStream, hits: Arc<AtomicUsize>, reply: Arc<Mutex<Reply>>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    hits.fetch_add(1, Ordering::SeqCst);
    let reply = reply.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let (status, body, location) = match reply {
        Reply::Json(body) => (200, body, String::new()),
        Reply::Status(status) => (status, String::new(), String::new()),
        Reply::Redirect(to) => (302, String::new(), format!("location: {to}\r\n")),
    };
    let response = format!(
        "HTTP/1.1 {status} Test\r\ncontent-type: application/json\r\n{location}content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}
