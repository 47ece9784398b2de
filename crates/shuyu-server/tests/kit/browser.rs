//! A headless Chromium driven over the DevTools protocol: enough to sign in through the real
//! login form and read what the page shows.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

pub struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
    port: u16,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn chromium_path() -> Option<String> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
        .iter()
        .find(|p| std::path::Path::new(p).exists())
        .map(|p| p.to_string())
}

impl Browser {
    pub async fn launch(path: &str) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(path)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                &format!("--remote-debugging-port={port}"),
                &format!("--user-data-dir={}", profile.path().display()),
                "about:blank",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromium");
        let browser = Browser { child, _profile: profile, port };
        let started = Instant::now();
        while browser.page_ws().await.is_none() {
            assert!(started.elapsed() < Duration::from_secs(30), "chromium did not open its debugging port");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        browser
    }

    async fn page_ws(&self) -> Option<String> {
        let list: Value =
            reqwest::get(format!("http://127.0.0.1:{}/json/list", self.port)).await.ok()?.json().await.ok()?;
        list.as_array()?
            .iter()
            .find(|t| t["type"] == "page")
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            .map(String::from)
    }

    pub async fn page(&self) -> Page {
        let url = self.page_ws().await.expect("a page target");
        let (ws, _) = tokio_tungstenite::connect_async(url).await.expect("connect to the page");
        Page { ws, next_id: 1 }
    }
}

pub struct Page {
    ws: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    next_id: u64,
}

impl Page {
    async fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.ws
            .send(Message::Text(json!({"id": id, "method": method, "params": params}).to_string().into()))
            .await
            .unwrap();
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(30), self.ws.next())
                .await
                .expect("devtools answer")
                .unwrap()
                .unwrap();
            if let Message::Text(text) = msg {
                let v: Value = serde_json::from_str(&text).unwrap();
                if v["id"] == id {
                    return v["result"].clone();
                }
            }
        }
    }

    /// Navigates and waits for the new document: the old one is marked first, so a check that
    /// runs before the navigation commits cannot mistake the old page for the new one.
    pub async fn goto(&mut self, url: &str) {
        self.eval("window.__shuyu_stale = true").await;
        self.call("Page.navigate", json!({"url": url})).await;
        self.wait_for("!window.__shuyu_stale && document.readyState === 'complete'").await;
    }

    /// Evaluates an expression in the page and returns its value.
    pub async fn eval(&mut self, expression: &str) -> Value {
        let r = self
            .call("Runtime.evaluate", json!({"expression": expression, "returnByValue": true, "awaitPromise": true}))
            .await;
        r["result"]["value"].clone()
    }

    /// Waits until `expression` is true in the page.
    pub async fn wait_for(&mut self, expression: &str) {
        let started = Instant::now();
        loop {
            if self.eval(expression).await == Value::Bool(true) {
                return;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "timed out waiting for {expression}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
