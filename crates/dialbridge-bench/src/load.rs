//! The load generator: closed loop (a fixed number of connections, each sending its next
//! request when the previous one answered, for a fixed time) and open loop (requests sent on a
//! schedule, whether or not earlier ones have answered). Both are bounded in time and count.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// No run sends more than this many requests, whatever its duration.
pub const MAX_REQUESTS: u64 = 5_000_000;

/// What a run measured.
#[derive(Clone, Debug, Default)]
pub struct Sample {
    pub ok: u64,
    pub failed: u64,
    pub elapsed: Duration,
    /// Latencies of answered requests (2xx or not), sorted.
    pub latencies: Vec<Duration>,
    pub first_error: Option<String>,
}

impl Sample {
    /// Successful requests per second.
    pub fn rate(&self) -> f64 {
        if self.elapsed.is_zero() {
            return 0.0;
        }
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    /// The `q` quantile of latency (0.5, 0.99).
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        quantile(&self.latencies, q)
    }
}

pub fn quantile(sorted: &[Duration], q: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let index = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    Some(sorted[index])
}

/// `connections` workers send `request(n)` back to back for `duration`, or until `count`
/// requests were sent; `n` counts requests across workers from `first`.
pub async fn closed_loop<F, Fut>(
    connections: usize,
    duration: Duration,
    count: u64,
    first: u64,
    request: F,
) -> Sample
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let request = Arc::new(request);
    let counter = Arc::new(AtomicU64::new(first));
    let first_error = Arc::new(Mutex::new(None::<String>));
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = Vec::with_capacity(connections);
    for _ in 0..connections {
        let request = request.clone();
        let counter = counter.clone();
        let first_error = first_error.clone();
        workers.push(tokio::spawn(async move {
            let (mut ok, mut failed, mut latencies) = (0u64, 0u64, Vec::new());
            while Instant::now() < deadline {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                if n - first >= count.min(MAX_REQUESTS) {
                    break;
                }
                let at = Instant::now();
                let outcome = request(n).await;
                latencies.push(at.elapsed());
                match outcome {
                    Ok(()) => ok += 1,
                    Err(e) => {
                        failed += 1;
                        first_error.lock().unwrap().get_or_insert(e);
                    }
                }
            }
            (ok, failed, latencies)
        }));
    }
    let mut sample = Sample::default();
    for worker in workers {
        if let Ok((ok, failed, latencies)) = worker.await {
            sample.ok += ok;
            sample.failed += failed;
            sample.latencies.extend(latencies);
        }
    }
    sample.elapsed = started.elapsed();
    sample.latencies.sort();
    sample.first_error = first_error.lock().unwrap().take();
    sample
}

/// What an open-loop run did.
#[derive(Clone, Debug, Default)]
pub struct OpenSample {
    pub sent: u64,
    pub ok: u64,
    pub failed: u64,
    /// From the first scheduled send to the last answer.
    pub elapsed: Duration,
    /// How far behind its schedule the latest send went (the generator or the server not
    /// keeping up).
    pub max_lag: Duration,
    pub first_error: Option<String>,
}

/// Sends `request(n)` at `rate` per second for `duration`, each at its scheduled time without
/// waiting for earlier answers (at most `max_in_flight` outstanding; beyond that sends wait,
/// which shows as lag).
pub async fn open_loop<F, Fut>(
    rate: f64,
    duration: Duration,
    max_in_flight: usize,
    request: F,
) -> OpenSample
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let request = Arc::new(request);
    let permits = Arc::new(tokio::sync::Semaphore::new(max_in_flight));
    let total = ((rate * duration.as_secs_f64()).round() as u64).min(MAX_REQUESTS);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    let mut max_lag = Duration::ZERO;
    for n in 0..total {
        let due = started + Duration::from_secs_f64(n as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        max_lag = max_lag.max(Instant::now().saturating_duration_since(due));
        let request = request.clone();
        tasks.push(tokio::spawn(async move {
            let outcome = request(n).await;
            drop(permit);
            outcome
        }));
    }
    let mut sample = OpenSample {
        sent: tasks.len() as u64,
        max_lag,
        ..OpenSample::default()
    };
    for task in tasks {
        match task.await {
            Ok(Ok(())) => sample.ok += 1,
            Ok(Err(e)) => {
                sample.failed += 1;
                sample.first_error.get_or_insert(e);
            }
            Err(e) => {
                sample.failed += 1;
                sample.first_error.get_or_insert(e.to_string());
            }
        }
    }
    sample.elapsed = started.elapsed();
    sample
}

/// Sends one request and reads its whole answer (so the connection is reused); a non-2xx
/// answer is an error carrying the status and the start of the body.
pub async fn send(request: reqwest::RequestBuilder) -> Result<(), String> {
    let response = request.send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    if status.is_success() {
        Ok(())
    } else {
        let text = String::from_utf8_lossy(&body);
        Err(format!(
            "{status}: {}",
            text.chars().take(200).collect::<String>()
        ))
    }
}

/// A client for one run: keep-alive connections, enough idle ones for every worker.
pub fn client(connections: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(connections.max(1) * 2)
        .timeout(Duration::from_secs(300))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client")
}
