//! A real browser on another origin calls the gateway through CORS: headless
//! Chromium loads `tests/browser/page.html` from a second local server, which
//! streams GenerateStream with the Connect protocol and `/v1/generate:stream`
//! with Server-Sent Events and renders both answers; the test reads the
//! rendered page. The same page served from an origin the gateway does not
//! allow gets nothing.
//!
//! Chromium comes from Debian's `chromium` package, which
//! `scripts/install-tools` installs; `scripts/test` sets
//! `BEDROCK_GATEWAY_REQUIRE_BROWSER=1`, so there a missing browser fails the
//! test. Elsewhere, without it the test is skipped with a note.

mod common;

use bedrock_gateway::backend::simulated::{SimulatedBackend, SimulatedConfig};
use bedrock_gateway::pb;
use bedrock_gateway::server::ServerConfig;
use common::{quick_config, TestServer};
use std::convert::Infallible;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

fn chromium() -> Option<String> {
    let name = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".to_owned());
    // Bounded: a browser that hangs on start must not hang the test.
    let version = Command::new("timeout").args(["--kill-after=5", "30", &name, "--version"]).output();
    if version.is_ok_and(|o| o.status.success()) {
        return Some(name);
    }
    assert!(
        std::env::var_os("BEDROCK_GATEWAY_REQUIRE_BROWSER").is_none(),
        "{name} is not on PATH (apt-get install chromium)"
    );
    eprintln!("skipped: {name} not on PATH (apt-get install chromium)");
    None
}

/// Serves `html` at `/` on 127.0.0.1:0, and `/hold`, which answers only
/// once the page has POSTed `/report` (so the page's load event, and the
/// DOM dump, wait for its streams); returns the origin.
async fn serve_page(html: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let reported = Arc::new(tokio::sync::Notify::new());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let html = html.clone();
            let reported = reported.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let html = html.clone();
                    let reported = reported.clone();
                    async move {
                        let body = match req.uri().path() {
                            "/hold" => {
                                reported.notified().await;
                                String::new()
                            }
                            "/report" => {
                                reported.notify_one();
                                String::new()
                            }
                            _ => html,
                        };
                        Ok::<_, Infallible>(
                            hyper::Response::builder()
                                .header("content-type", "text/html; charset=utf-8")
                                .body(http_body_util::Full::new(bytes::Bytes::from(body)))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    origin
}

/// The text of `<pre id="{id}">` in a dumped DOM, unescaped.
fn pre(dom: &str, id: &str) -> String {
    let start = format!("<pre id=\"{id}\">");
    let from = dom.find(&start).unwrap_or_else(|| panic!("no #{id} in\n{dom}")) + start.len();
    let to = from + dom[from..].find("</pre>").unwrap();
    dom[from..to].replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&amp;", "&")
}

/// Loads `url` in headless Chromium and returns the DOM once the page's
/// network activity is over (virtual time waits for pending fetches).
async fn render(chromium: &str, url: String) -> String {
    let profile = tempfile::tempdir().unwrap();
    let args = vec![
        "--headless".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-dev-shm-usage".to_owned(),
        "--no-first-run".to_owned(),
        format!("--user-data-dir={}", profile.path().display()),
        "--virtual-time-budget=20000".to_owned(),
        "--dump-dom".to_owned(),
        url,
    ];
    // `timeout` kills a browser that outlives 90 s (and its children with
    // it, as their process group's leader goes); the future's own bound
    // kills the child if even that fails.
    let out = tokio::time::timeout(
        Duration::from_secs(100),
        tokio::process::Command::new("timeout")
            .args(["--kill-after=5", "90", chromium])
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("chromium finishes within 90 s")
    .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(dom.contains("<title>done</title>"), "the page did not finish:\n{dom}\n{}", String::from_utf8_lossy(&out.stderr));
    dom
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_on_an_allowed_origin_renders_streamed_answers() {
    let Some(chromium) = chromium() else { return };
    let backend = || {
        Arc::new(SimulatedBackend::new(SimulatedConfig {
            token_delay: Duration::from_millis(1),
            ..Default::default()
        }))
    };
    // The page's server first: its origin is what the gateway allows.
    // The gateway's listener is bound first (and kept: no rebinding race),
    // so the page can name it.
    let gateway_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gateway_url = format!("http://{}", gateway_listener.local_addr().unwrap());
    let page = include_str!("browser/page.html").replace("__GATEWAY__", &gateway_url);
    let page_origin = serve_page(page.clone()).await;
    let other_origin = serve_page(page).await;

    let config = ServerConfig {
        cors_allow_origins: vec![page_origin.clone()],
        ..quick_config()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(bedrock_gateway::server::run(gateway_listener, backend(), config, async {
        let _ = stopped.await;
    }));

    // What Generate answers at temperature 0: the streamed text must equal it.
    let reference = TestServer::start(backend(), quick_config()).await;
    let expected = reference
        .client()
        .await
        .generate(pb::GenerateRequest {
            model_id: "amazon.titan-text-express-v1".into(),
            prompt: "Write a poem about sky".into(),
            parameters: Some(pb::GenerationParameters {
                temperature: Some(0.0),
                max_tokens: Some(40),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .text;
    reference.stop().await;

    let dom = render(&chromium, format!("{page_origin}/")).await;
    assert_eq!(pre(&dom, "status"), "connect:ok:browser-connect sse:complete", "{dom}");
    assert_eq!(pre(&dom, "connect"), expected);
    assert_eq!(pre(&dom, "sse"), expected);

    // The same page from an origin not on the list: the browser refuses.
    let dom = render(&chromium, format!("{other_origin}/")).await;
    let status = pre(&dom, "status");
    assert!(status.starts_with("failed: TypeError"), "{status}");
    assert_eq!(pre(&dom, "connect"), "");

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), server).await.unwrap().unwrap().unwrap();
}
