//! A TCP proxy the test controls, between dialbridge and PostgreSQL: it can be cut (open
//! connections dropped, new ones closed at once, as a database that went away) and restored,
//! and it can hold back the database's answers by a latency (a slow database).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

pub struct Proxy {
    pub port: u16,
    state: Arc<State>,
    stop: CancellationToken,
}

struct State {
    upstream: String,
    up: AtomicBool,
    /// Added before each chunk of the database's answers is passed on, in milliseconds.
    latency_ms: AtomicU64,
    /// Cancelled when the proxy is cut: every open connection drops.
    open: Mutex<CancellationToken>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State {
            upstream: upstream.to_owned(),
            up: AtomicBool::new(true),
            latency_ms: AtomicU64::new(0),
            open: Mutex::new(CancellationToken::new()),
        });
        let stop = CancellationToken::new();
        let accepting = state.clone();
        let stopped = stop.clone();
        tokio::spawn(async move {
            loop {
                let (client, _) = tokio::select! {
                    _ = stopped.cancelled() => return,
                    accepted = listener.accept() => match accepted {
                        Ok(accepted) => accepted,
                        Err(_) => continue,
                    },
                };
                if !accepting.up.load(Ordering::SeqCst) {
                    // Closed at once: the client sees its connection fail, not hang.
                    drop(client);
                    continue;
                }
                let state = accepting.clone();
                let cut = state.open.lock().unwrap().clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&state.upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = cut.cancelled() => {}
                        _ = pipe(client, server, &state) => {}
                    }
                });
            }
        });
        Proxy { port, state, stop }
    }

    /// Drops every open connection and refuses new ones until `restore`.
    pub fn cut(&self) {
        self.state.up.store(false, Ordering::SeqCst);
        let mut open = self.state.open.lock().unwrap();
        open.cancel();
        *open = CancellationToken::new();
    }

    pub fn restore(&self) {
        self.state.up.store(true, Ordering::SeqCst);
    }

    /// Holds each chunk of the database's answers back by `latency` from now on.
    pub fn set_latency(&self, latency: Duration) {
        self.state
            .latency_ms
            .store(latency.as_millis() as u64, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.cancel();
        self.state.open.lock().unwrap().cancel();
    }
}

/// Copies both ways until either side closes; the server's bytes wait out the latency.
async fn pipe(client: TcpStream, server: TcpStream, state: &State) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up = async {
        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
    };
    let down = async {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let n = match server_read.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let latency = state.latency_ms.load(Ordering::SeqCst);
            if latency > 0 {
                tokio::time::sleep(Duration::from_millis(latency)).await;
            }
            if client_write.write_all(&buffer[..n]).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
}
