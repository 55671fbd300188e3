//! `strata local start|stop`: a local stack that keeps running, for every other command to
//! use with `--local` (the context file says where it is). Foreground until Ctrl-C (or
//! SIGTERM), or `--detach`: a process of its own, its output in `local.log` next to the
//! context file.

use std::process::Stdio;
use std::time::{Duration, Instant};

use strata_localstack::{LocalStack, Options};

use crate::context::{self, LocalContext};
use crate::exit;

/// The first start builds every function; a cold build takes minutes.
const START_WAIT: Duration = Duration::from_secs(1800);
const STOP_WAIT: Duration = Duration::from_secs(60);

fn describe(context: &LocalContext) {
    println!("local stack running (pid {})", context.pid);
    println!("  API           {}", context.api);
    println!("  AWS endpoint  {}", context.aws);
    println!("  logs          {}", context.logs.display());
    println!("use it with `strata --local …`; stop it with `strata local stop`");
}

pub async fn start(detach: bool) -> u8 {
    if let Some(running) = LocalContext::read() {
        println!("a local stack already runs");
        describe(&running);
        return exit::OK;
    }
    if detach {
        return detached().await;
    }
    eprintln!(
        "starting the local stack (moto, router, cargo lambda watch; a first start builds the functions)..."
    );
    let mut stack = match LocalStack::start(Options::default()).await {
        Ok(stack) => stack,
        Err(e) => {
            eprintln!("the local stack did not start: {e}");
            return exit::ERROR;
        }
    };
    let api = match stack.serve_api().await {
        Ok(api) => api,
        Err(e) => {
            eprintln!("the API's front door did not start: {e}");
            return exit::ERROR;
        }
    };
    let stack = std::sync::Arc::new(stack);
    let control = match crate::local_control::serve(std::sync::Arc::downgrade(&stack)).await {
        Ok(control) => control,
        Err(e) => {
            eprintln!("the local stack's control port did not open: {e}");
            return exit::ERROR;
        }
    };
    let config = stack.sdk_config();
    let context = LocalContext {
        pid: std::process::id(),
        api,
        aws: stack.endpoint().to_owned(),
        region: config
            .region()
            .map_or_else(|| "us-east-1".to_owned(), ToString::to_string),
        logs: stack.logs().to_owned(),
        control: Some(control),
    };
    if let Err(e) = context.write() {
        eprintln!("{}: {e}", context::path().display());
        return exit::ERROR;
    }
    describe(&context);
    let stopped = stopped().await;
    LocalContext::remove_if_mine(context.pid);
    drop(stack);
    println!("local stack stopped ({stopped})");
    exit::OK
}

/// Waits for Ctrl-C or SIGTERM; answers which.
async fn stopped() -> &'static str {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return "interrupted";
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "interrupted",
        _ = term.recv() => "terminated",
    }
}

/// Starts `strata local start` as a process of its own and waits until its context is
/// written (or it died, then shows its log).
async fn detached() -> u8 {
    let log = context::path().with_file_name("local.log");
    let opened = log
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::File::create(&log));
    let (out, err) = match opened.and_then(|f| Ok((f.try_clone()?, f))) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("{}: {e}", log.display());
            return exit::ERROR;
        }
    };
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("cannot find this program to start it again: {e}");
            return exit::ERROR;
        }
    };
    use std::os::unix::process::CommandExt;
    let mut child = match std::process::Command::new(exe)
        .args(["local", "start"])
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        // Its own process group: a Ctrl-C in this terminal does not reach it.
        .process_group(0)
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            eprintln!("cannot start the local stack: {e}");
            return exit::ERROR;
        }
    };
    eprintln!(
        "starting the local stack in the background (pid {}; log {})...",
        child.id(),
        log.display()
    );
    let clock = Instant::now();
    while clock.elapsed() < START_WAIT {
        if let Some(context) = LocalContext::read().filter(|c| c.pid == child.id()) {
            describe(&context);
            return exit::OK;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(20).collect();
            eprintln!("the local stack ended ({status}); its log ends:");
            for line in tail.into_iter().rev() {
                eprintln!("  {line}");
            }
            return exit::ERROR;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!(
        "the local stack has not started after {}s; see {}",
        START_WAIT.as_secs(),
        log.display()
    );
    exit::TIMEOUT
}

pub async fn stop() -> u8 {
    let Some(running) = LocalContext::read() else {
        println!("no local stack runs");
        return exit::OK;
    };
    let Ok(pid) = libc::pid_t::try_from(running.pid) else {
        return exit::ERROR;
    };
    // SAFETY: signals the process the context names; it is checked alive just before.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    let clock = Instant::now();
    while context::alive(running.pid) && clock.elapsed() < STOP_WAIT {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if context::alive(running.pid) {
        eprintln!(
            "pid {} did not stop within {}s; killing it (its moto and cargo-lambda die with it)",
            running.pid,
            STOP_WAIT.as_secs()
        );
        // SAFETY: as above.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
    LocalContext::remove_if_mine(running.pid);
    println!("local stack stopped (pid {})", running.pid);
    exit::OK
}
