//! `grpc.health.v1` as tonic-health serves it, except that once shutdown has begun a `Watch`
//! stream ends right after delivering NOT_SERVING: clients with client-side health checking keep
//! one open per backend, and an open stream would otherwise hold the drain for its whole grace.

use std::{
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
};

use tokio_stream::Stream;
use tonic::{Request, Response, Status};
use tonic_health::{
    pb::{
        HealthCheckRequest, HealthCheckResponse, health_check_response::ServingStatus,
        health_server::Health,
    },
    server::{HealthReporter, HealthService, WatchStream},
};

/// tonic-health's service with Watch streams that end on shutdown.
#[derive(Debug)]
pub(crate) struct EndingHealth {
    inner: HealthService,
    stopping: Arc<AtomicBool>,
}

impl EndingHealth {
    /// Serves `reporter`'s statuses; Watch streams end after NOT_SERVING once `stopping` is set
    /// (set it before reporting NOT_SERVING).
    pub(crate) fn new(reporter: HealthReporter, stopping: Arc<AtomicBool>) -> Self {
        Self {
            inner: HealthService::from_health_reporter(reporter),
            stopping,
        }
    }
}

#[tonic::async_trait]
impl Health for EndingHealth {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        self.inner.check(request).await
    }

    type WatchStream = EndingWatch;

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<EndingWatch>, Status> {
        let inner = self.inner.watch(request).await?.into_inner();
        Ok(Response::new(EndingWatch {
            inner,
            stopping: Arc::clone(&self.stopping),
            ended: false,
        }))
    }
}

/// A Watch stream that ends after the NOT_SERVING it delivers during shutdown. (A NOT_SERVING
/// from a store outage leaves it open: the status comes back.)
#[derive(Debug)]
pub(crate) struct EndingWatch {
    inner: WatchStream,
    stopping: Arc<AtomicBool>,
    ended: bool,
}

impl Stream for EndingWatch {
    type Item = Result<HealthCheckResponse, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        let item = Pin::new(&mut this.inner).poll_next(cx);
        if let Poll::Ready(Some(Ok(response))) = &item {
            this.ended = response.status == ServingStatus::NotServing as i32
                && this.stopping.load(Ordering::SeqCst);
        }
        item
    }
}
