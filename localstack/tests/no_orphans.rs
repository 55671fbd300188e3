//! The local stack leaves no process behind, also when the test holding it panics.

use std::io::Write;

use strata_localstack::{LocalStack, Options};

/// True while any process of the group is alive (signal 0 checks without signalling).
fn group_alive(pgid: u32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    unsafe { libc::kill(-(pgid as i32), 0) == 0 }
}

#[test]
fn a_panicking_test_takes_moto_cargo_lambda_and_the_functions_with_it() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let groups = std::sync::Mutex::new(Vec::new());
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(async {
            let stack = LocalStack::start(Options::default()).await.unwrap();
            // Make cargo-lambda start a function process inside its group.
            let endpoint = stack.endpoint().trim_start_matches("http://").to_owned();
            tokio::task::spawn_blocking(move || {
                let mut s = std::net::TcpStream::connect(endpoint).unwrap();
                let body = r#"{"action":"begin","operation":"up","execution":"x","input":{}}"#;
                write!(
                    s,
                    "POST /2015-03-31/functions/lifecycle/invocations HTTP/1.1\r\nHost: x\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .unwrap();
                std::io::Read::read_to_end(&mut s, &mut Vec::new()).unwrap();
            })
            .await
            .unwrap();
            *groups.lock().unwrap() = stack.process_groups();
            assert!(stack.process_groups().iter().all(|g| group_alive(*g)));
            panic!("a test failing while it holds the stack");
        })
    }));
    assert!(outcome.is_err());
    let groups = groups.into_inner().unwrap();
    assert_eq!(groups.len(), 2, "moto and cargo-lambda were started");
    for group in groups {
        assert!(
            !group_alive(group),
            "process group {group} outlived the stack"
        );
    }
}
