//! What the browser tests share: Debian's Chromium (installed by `scripts/browser-deps.sh`
//! when missing) driven headless through chromedriver with fantoccini, against the real
//! `dialbridge serve --dev` on a fresh SQLite file; full-page screenshots at 1280 and 390 px
//! under `target/ui-screenshots/`. One browser test runs at a time: Chromium is heavy.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::LazyLock;
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use tokio::process::Child;
use tokio::sync::{Mutex, MutexGuard};

use crate::support::{self, free_port};

/// Widths every screenshot is taken at.
pub const WIDTHS: [u32; 2] = [1280, 390];
const HEIGHT: u32 = 900;
const WAIT: Duration = Duration::from_secs(15);

static ONE_AT_A_TIME: LazyLock<Mutex<()>> = LazyLock::new(|| Mutex::new(()));

/// `serve --dev` and a browser pointed at it; both end when dropped.
pub struct Session {
    pub base: String,
    pub client: Client,
    http: reqwest::Client,
    _server: Child,
    _driver: Child,
    _data: tempfile::TempDir,
    _turn: MutexGuard<'static, ()>,
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Chromium and chromedriver, installed by the script when missing.
fn ensure_browser() {
    let script = repo_root().join("scripts/browser-deps.sh");
    let status = std::process::Command::new("bash")
        .arg(&script)
        .status()
        .expect("bash runs scripts/browser-deps.sh");
    assert!(
        status.success(),
        "{} could not provide chromium and chromedriver",
        script.display()
    );
}

impl Session {
    pub async fn start() -> Session {
        Self::start_with(&[]).await
    }

    /// With more `serve` arguments (a shorter webhook retry schedule, say).
    pub async fn start_with(extra: &[&str]) -> Session {
        let turn = ONE_AT_A_TIME.lock().await;
        ensure_browser();
        let data = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let listen = format!("127.0.0.1:{port}");
        let database = format!("sqlite://{}/dialbridge.db", data.path().display());
        let mut args = vec![
            "serve",
            "--dev",
            "--listen",
            &listen,
            "--database-url",
            &database,
        ];
        args.extend_from_slice(extra);
        let server = support::dialbridge(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dialbridge starts");
        assert!(
            support::ready(&format!("{base}/healthz")).await,
            "dialbridge did not start"
        );

        let driver_port = free_port();
        let driver = tokio::process::Command::new("chromedriver")
            .arg(format!("--port={driver_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let driver_url = format!("http://127.0.0.1:{driver_port}");
        assert!(
            support::ready(&format!("{driver_url}/status")).await,
            "chromedriver did not start"
        );
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                         "--disable-gpu", "--hide-scrollbars", format!("--window-size=1280,{HEIGHT}")],
            }),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver_url)
            .await
            .expect("a Chromium session");
        Session {
            base,
            client,
            http: reqwest::Client::new(),
            _server: server,
            _driver: driver,
            _data: data,
            _turn: turn,
        }
    }

    pub async fn goto(&self, path: &str) {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        self.client.goto(&url).await.expect("navigates");
    }

    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("a current URL");
        url.path().to_owned()
    }

    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    pub async fn exists(&self, css: &str) -> bool {
        !self
            .client
            .find_all(Locator::Css(css))
            .await
            .expect("a query")
            .is_empty()
    }

    /// The text of `css`, found again if the page changed under it (a redirect, htmx).
    pub async fn text(&self, css: &str) -> String {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match self.find(css).await.text().await {
                Ok(text) => return text,
                Err(e) if tokio::time::Instant::now() > deadline => panic!("{css}: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Waits until the browser is at `expected` (a path), after a form's redirect.
    pub async fn wait_for_path(&self, expected: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.path().await != expected {
            if tokio::time::Instant::now() > deadline {
                panic!("never reached {expected}; at {}", self.path().await);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn fill(&self, css: &str, value: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("cleared");
        field.send_keys(value).await.expect("typed");
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.expect("clicked");
    }

    /// Waits until the page's text holds `needle` (after a redirect or an htmx refresh).
    pub async fn wait_for_text(&self, needle: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let body = self.client.source().await.unwrap_or_default();
            if body.contains(needle) {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("the page never showed {needle:?}; it shows:\n{body}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Signs in with the dev key and lands on the dashboard.
    pub async fn sign_in(&self) {
        self.goto("/ui").await;
        self.fill("#api_key", "dialbridge-dev").await;
        self.click("button[type=submit]").await;
        self.wait_for_path("/ui/accounts").await;
    }

    /// Sets a field's value at once (long text such as YAML).
    pub async fn set_value(&self, css: &str, value: &str) {
        self.find(css).await;
        self.client
            .execute(
                "document.querySelector(arguments[0]).value = arguments[1]",
                vec![json!(css), json!(value)],
            )
            .await
            .expect("value set");
    }

    /// A full-page screenshot at each width, as `target/ui-screenshots/<name>-<width>.png`.
    pub async fn screenshot(&self, name: &str) {
        let dir = repo_root().join("target/ui-screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot folder");
        for width in WIDTHS {
            self.client
                .set_window_size(width, HEIGHT)
                .await
                .expect("resized");
            // The window is the page's height plus the browser's own frame, from the top.
            let height = self
                .client
                .execute(
                    "window.scrollTo(0, 0); return Math.ceil(document.documentElement.scrollHeight \
                     + window.outerHeight - window.innerHeight)",
                    vec![],
                )
                .await
                .expect("page height")
                .as_u64()
                .unwrap_or(u64::from(HEIGHT)) as u32;
            self.client
                .set_window_size(width, height.clamp(HEIGHT, 8000))
                .await
                .expect("resized to the page");
            self.client
                .execute("window.scrollTo(0, 0)", vec![])
                .await
                .expect("scrolled to the top");
            let png = self.client.screenshot().await.expect("a screenshot");
            std::fs::write(dir.join(format!("{name}-{width}.png")), png).expect("saved");
        }
        self.client
            .set_window_size(1280, HEIGHT)
            .await
            .expect("resized back");
    }

    /// `GET /api/v1{path}` with the dev admin key.
    pub async fn api_get(&self, path: &str) -> Value {
        let request = self.http.get(format!("{}/api/v1{path}", self.base));
        answer(request.bearer_auth("dialbridge-dev")).await
    }

    /// `method /api/v1{path}` with the dev admin key and a JSON body, for what a test only
    /// sets up.
    pub async fn api(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let request = self
            .http
            .request(method, format!("{}/api/v1{path}", self.base));
        answer(request.bearer_auth("dialbridge-dev").json(&body)).await
    }

    /// `GET /emulator/_control{path}`.
    pub async fn control_get(&self, path: &str) -> Value {
        answer(
            self.http
                .get(format!("{}/emulator/_control{path}", self.base)),
        )
        .await
    }

    /// `POST /emulator/_control{path}`, for what a test only sets up.
    pub async fn control(&self, path: &str, body: Value) -> Value {
        let request = self
            .http
            .post(format!("{}/emulator/_control{path}", self.base));
        answer(request.json(&body)).await
    }

    /// No page of the dashboard loads anything from outside the binary.
    pub async fn assert_nothing_fetched_from_elsewhere(&self) {
        let origins = self
            .client
            .execute(
                "return performance.getEntriesByType('resource').map(e => new URL(e.name).origin)",
                vec![],
            )
            .await
            .expect("resource timings");
        for origin in origins.as_array().into_iter().flatten() {
            assert_eq!(
                origin.as_str(),
                Some(self.base.as_str()),
                "fetched {origin}"
            );
        }
    }

    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

/// The JSON answer to `request`.
async fn answer(request: reqwest::RequestBuilder) -> Value {
    request
        .send()
        .await
        .expect("an answer")
        .json()
        .await
        .expect("JSON")
}
