//! `strata console` in a real headless browser (Debian's chromium): the list, one
//! environment during an `up` and after it, as the DOM the page builds; screenshots kept in
//! `$CARGO_TARGET_TMPDIR/console/`. The console's proxy is also checked the way a hostile
//! page would try it: without the session token, or under another host name.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use strata_testkit::cli::Strata;

const STRATA: Strata = Strata::new(env!("CARGO_BIN_EXE_strata"));

struct Local {
    state: PathBuf,
    console: Option<Child>,
}

impl Local {
    fn command(&self) -> Command {
        STRATA.local_command(&self.state)
    }

    fn strata(&self, args: &[&str]) -> (i32, String) {
        let out = self.command().args(args).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        println!(
            "$ strata {}\n{text}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    }

    /// Starts `strata --local console --port 0`; answers the URL it prints.
    fn console(&mut self) -> String {
        let mut child = self
            .command()
            .args(["--local", "console", "--port", "0"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        self.console = Some(child);
        println!("{line}");
        line.split_whitespace()
            .find(|w| w.starts_with("http://"))
            .expect("the console prints its URL")
            .to_owned()
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        if let Some(mut console) = self.console.take() {
            let _ = console.kill();
            let _ = console.wait();
        }
        let _ = self.strata(&["local", "stop"]);
    }
}

fn chromium(args: &[&str], url: &str) -> String {
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--virtual-time-budget=8000",
        ])
        .args(args)
        .arg(url)
        .output()
        .expect("chromium is installed (scripts/test installs Debian's chromium)");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn dom(url: &str) -> String {
    chromium(&["--dump-dom"], url)
}

fn screenshot(url: &str, name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.png"));
    chromium(
        &[
            "--window-size=1280,1600",
            &format!("--screenshot={}", path.display()),
        ],
        url,
    );
    assert!(std::fs::metadata(&path).unwrap().len() > 10_000);
    println!("screenshot: {}", path.display());
    path
}

/// Every `data-component="…" data-phase="…"` pair in the DOM.
fn phases(dom: &str) -> Vec<(String, String)> {
    dom.split("data-component=\"")
        .skip(1)
        .filter_map(|rest| {
            let (component, rest) = rest.split_once('"')?;
            let phase = rest.split("data-phase=\"").nth(1)?.split('"').next()?;
            Some((component.to_owned(), phase.to_owned()))
        })
        .collect()
}

/// A raw HTTP/1.1 request to the console; answers the status line and body.
fn raw(addr: &str, request: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn the_console_shows_the_list_and_an_environment_during_and_after_its_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut local = Local {
        state: dir.path().join("local.json"),
        console: None,
    };
    assert_eq!(local.strata(&["local", "start", "--detach"]).0, 0);
    let url = local.console();
    let (base, token) = url.split_once("?token=").unwrap();
    let addr = base.trim_start_matches("http://").trim_end_matches('/');

    // During the up: the environment Progressing, its graph drawn with every component.
    let example = strata_testkit::examples::path("staging.yaml")
        .display()
        .to_string();
    assert_eq!(local.strata(&["--local", "apply", "-f", &example]).0, 0);
    let page = format!("{url}#/env/staging");
    // Begin records the operation a moment after the API accepted it.
    let during = (0..20)
        .map(|_| dom(&page))
        .find(|d| d.contains("id=\"state\">Progressing"))
        .expect("the page shows the environment Progressing during its up");
    let drawn = phases(&during);
    assert_eq!(drawn.len(), 7, "{drawn:?}");
    assert!(drawn.iter().any(|(_, phase)| phase != "ready"), "{drawn:?}");
    screenshot(&page, "environment-during-up");

    // After it: every component ready, its resources, credentials (ARNs) and history.
    assert_eq!(local.strata(&["--local", "watch", "staging"]).0, 0);
    let after = dom(&page);
    assert!(after.contains("id=\"state\">Ready"), "{after}");
    let drawn = phases(&after);
    assert_eq!(drawn.len(), 7);
    assert!(drawn.iter().all(|(_, phase)| phase == "ready"), "{drawn:?}");
    for shown in [
        "vpcId = vpc-",
        "arn:aws:secretsmanager:",
        "OperationStarted",
        "data-action=\"delete\"",
        // What runs costs, at the shipped list prices (strata_core::cost pins the figure).
        "data-total=\"\">$224.50",
    ] {
        assert!(after.contains(shown), "{shown} not shown");
    }
    assert!(!after.contains("masterUserPassword"));
    screenshot(&page, "environment-ready");

    let list = dom(&url);
    assert!(list.contains("data-environment=\"staging\""), "{list}");
    assert!(list.contains("state-Ready"), "{list}");
    screenshot(&url, "environments");

    // The proxy: a plan through it is the API's typed answer; without the token, or under
    // another host, nothing is forwarded.
    let spec = strata_testkit::examples::staging_text();
    let planned = raw(
        addr,
        &format!(
            "POST /api/environments/staging/plan HTTP/1.1\r\nHost: {addr}\r\nx-strata-console: {token}\r\ncontent-type: application/yaml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{spec}",
            spec.len()
        ),
    );
    assert!(planned.starts_with("HTTP/1.1 200"), "{planned}");
    let body = planned.split("\r\n\r\n").nth(1).unwrap();
    let plan: strata_api_types::PlanView = serde_json::from_str(body).unwrap();
    assert!(plan.noop, "{body}");
    let tokenless = raw(
        addr,
        &format!(
            "DELETE /api/environments/staging HTTP/1.1\r\nHost: {addr}\r\nconnection: close\r\n\r\n"
        ),
    );
    assert!(tokenless.starts_with("HTTP/1.1 403"), "{tokenless}");
    let rebound = raw(
        addr,
        &format!(
            "GET /api/environments HTTP/1.1\r\nHost: evil.example:80\r\nx-strata-console: {token}\r\nconnection: close\r\n\r\n"
        ),
    );
    assert!(rebound.starts_with("HTTP/1.1 403"), "{rebound}");
    let (_, got) = local.strata(&["--local", "get", "staging"]);
    assert!(got.contains("Ready"), "the environment was touched: {got}");
}
