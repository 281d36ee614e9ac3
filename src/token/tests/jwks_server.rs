//! A JWKS endpoint on 127.0.0.1 (a wiremock `MockServer`) that answers what the test says and
//! counts the requests it received.

use std::sync::{Arc, Mutex, PoisonError};

use wiremock::{Mock, MockServer, Respond, ResponseTemplate, matchers::any};

use super::support::{TestTenant, tenant};
use crate::token::KeySource;

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
    server: MockServer,
    reply: Arc<Mutex<Reply>>,
}

/// Answers the reply the test set last.
struct Current(Arc<Mutex<Reply>>);

impl Respond for Current {
    fn respond(&self, _: &wiremock::Request) -> ResponseTemplate {
        match self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            Reply::Json(body) => ResponseTemplate::new(200).set_body_raw(body, "application/json"),
            Reply::Status(status) => ResponseTemplate::new(status),
            Reply::Redirect(to) => ResponseTemplate::new(302).insert_header("location", to),
        }
    }
}

impl Server {
    pub async fn start(reply: Reply) -> Self {
        let server = MockServer::start().await;
        let url = format!("{}/.well-known/jwks.json", server.uri());
        let reply = Arc::new(Mutex::new(reply));
        Mock::given(any())
            .respond_with(Current(Arc::clone(&reply)))
            .mount(&server)
            .await;
        Self { url, server, reply }
    }

    pub fn set(&self, reply: Reply) {
        *self.reply.lock().unwrap_or_else(PoisonError::into_inner) = reply;
    }

    /// How many requests arrived so far.
    pub async fn hits(&self) -> usize {
        self.server
            .received_requests()
            .await
            .expect("request recording is on by default")
            .len()
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.server.address().port()
    }

    pub fn tenant(&self) -> TestTenant {
        tenant(KeySource::Uri(self.url.clone()))
    }
}
