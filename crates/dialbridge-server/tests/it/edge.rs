//! Hostile clients at the HTTP edge, over raw TCP against a real server with short limits set
//! by each test: a request head trickled in is dropped after the header timeout, a stalled body
//! answers 408 after the body timeout, a slow answer 503 after the request timeout, an idle
//! connection is closed, connections over the cap wait for a free slot, a stalled request does
//! not hold up shutdown for more than its bound, and wrong admin keys from one address are
//! slowed down and counted. The bounds asserted are generous (several times the configured
//! ones), so a busy machine does not make them flake.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{read, Backend, Options, TestApp};

const GENEROUS: Duration = Duration::from_secs(10);

async fn spawn_with(args: &[&str]) -> TestApp {
    let options = Options {
        serve_args: args.iter().map(|a| (*a).to_owned()).collect(),
        ..Options::default()
    };
    TestApp::spawn_with(Backend::Sqlite, options).await
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .expect("connect")
}

/// What the server sends until it closes the connection; `None` if it is still open after
/// `limit`.
async fn until_closed(stream: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut received = Vec::new();
    let reading = async {
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(limit, reading).await.ok()?;
    Some(String::from_utf8_lossy(&received).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_head_trickled_in_is_dropped_after_the_header_timeout() {
    let app = spawn_with(&["--header-read-timeout-secs", "1"]).await;
    let mut stream = connect(&app).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let trickle = async {
        // A header line every 200 ms: the head never ends, but bytes keep coming.
        for i in 0.. {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let line = format!("X-Slow-{i}: y\r\n");
            if stream.write_all(line.as_bytes()).await.is_err() {
                return;
            }
        }
    };
    let closed = tokio::time::timeout(GENEROUS, trickle).await;
    assert!(
        closed.is_ok(),
        "the connection was still open after {:?}",
        started.elapsed()
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stalled_body_answers_408_after_the_body_timeout() {
    let app = spawn_with(&["--body-read-timeout-secs", "1"]).await;
    let mut stream = connect(&app).await;
    // Unauthenticated, as Dialpad's webhooks are: 1,000 bytes promised, 3 sent.
    stream
        .write_all(
            b"POST /webhooks/dialpad/some-hook HTTP/1.1\r\nHost: x\r\n\
              Content-Type: application/jwt\r\nContent-Length: 1000\r\n\r\nabc",
        )
        .await
        .unwrap();
    let answer = until_closed(&mut stream, GENEROUS)
        .await
        .expect("an answer within the bound");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
    assert!(answer.contains("application/json"), "{answer}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_idle_connection_is_closed_after_the_idle_timeout() {
    let app = spawn_with(&[
        "--idle-timeout-secs",
        "1",
        "--header-read-timeout-secs",
        "60",
    ])
    .await;
    let mut stream = connect(&app).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = until_closed(&mut stream, GENEROUS)
        .await
        .expect("closed once idle");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connections_over_the_cap_wait_for_a_free_slot() {
    let app = spawn_with(&["--max-connections", "2", "--header-read-timeout-secs", "60"]).await;
    let mut holders = Vec::new();
    for _ in 0..2 {
        let mut stream = connect(&app).await;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\n")
            .await
            .unwrap();
        holders.push(stream);
    }
    let mut third = connect(&app).await;
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(
        until_closed(&mut third, Duration::from_millis(1500)).await,
        None,
        "a third connection was served while two were open"
    );
    drop(holders.pop());
    let answer = until_closed(&mut third, GENEROUS)
        .await
        .expect("served once a slot was free");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_not_answered_in_time_answers_503_timeout() {
    let app = spawn_with(&["--request-timeout-secs", "1"]).await;
    app.configure_app().await;
    app.create_account("acme").await;
    app.connect_oauth("acme").await;
    let (status, body) = app
        .emulator_call(
            Method::PATCH,
            "/_control/config",
            Some(json!({ "latency_ms": 30_000 })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let started = Instant::now();
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/accounts/acme/actions/list_users",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "timeout", "{body}");
    assert!(started.elapsed() < GENEROUS, "{:?}", started.elapsed());
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stalled_request_holds_up_shutdown_for_its_bound_only() {
    let app = spawn_with(&[
        "--shutdown-timeout-secs",
        "1",
        "--body-read-timeout-secs",
        "600",
    ])
    .await;
    let mut stream = connect(&app).await;
    stream
        .write_all(
            b"POST /webhooks/dialpad/some-hook HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\na",
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    tokio::time::timeout(GENEROUS, app.shutdown())
        .await
        .expect("the server stopped within its bound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wrong_admin_keys_are_slowed_per_address_and_counted() {
    let app = spawn_with(&[]).await;
    let from = |address: &str| {
        reqwest::Client::builder()
            .local_address(address.parse::<IpAddr>().unwrap())
            .build()
            .unwrap()
    };
    let (attacker, neighbour) = (from("127.0.0.1"), from("127.0.0.2"));
    let try_key = |client: &reqwest::Client, key: &str| {
        client
            .get(format!("{}/api/v1/app", app.base))
            .bearer_auth(key)
            .send()
    };
    for _ in 0..5 {
        let (status, body) = read(try_key(&attacker, "wrong").await.unwrap()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }
    // The sixth is refused unchecked (a slow machine may let one more through first).
    let mut refused = None;
    for _ in 0..3 {
        let response = try_key(&attacker, "wrong").await.unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(response);
            break;
        }
    }
    let refused = refused.expect("429 after five wrong keys");
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=300).contains(&retry_after), "{retry_after}");
    let (_, body) = read(refused).await;
    assert_eq!(body["error"]["code"], "too_many_attempts", "{body}");
    // While it waits, even the right key is refused from there, though elsewhere it has
    // just been found valid (and is remembered, so no database is asked).
    let elsewhere = try_key(&neighbour, &app.api_key).await.unwrap();
    assert_eq!(elsewhere.status(), StatusCode::OK);
    let right = try_key(&attacker, &app.api_key).await.unwrap();
    assert_eq!(right.status(), StatusCode::TOO_MANY_REQUESTS);

    let metrics = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let wrong = metrics
        .lines()
        .find(|l| l.starts_with("dialbridge_auth_failures_total{outcome=\"wrong_key\"}"))
        .unwrap_or_else(|| panic!("{metrics}"));
    assert!(wrong.ends_with(" 5") || wrong.ends_with(" 6"), "{wrong}");
    assert!(
        metrics.contains("dialbridge_auth_failures_total{outcome=\"throttled\"}"),
        "{metrics}"
    );
    assert!(!metrics.contains("wrong\""), "a key in a label: {metrics}");

    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    let after = try_key(&attacker, &app.api_key).await.unwrap();
    assert_eq!(after.status(), StatusCode::OK);
    app.shutdown().await;
}
