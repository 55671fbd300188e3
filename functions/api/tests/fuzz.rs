//! Fuzzing the two parsers every caller reaches: the spec parser (raw bytes, and the example
//! with generated mutations, as YAML and JSON) and the API's request handling (generated
//! methods, paths, queries, content types and bodies over the in-memory parts). Neither may
//! panic; every refusal of a spec names a field, every refusal of a request is a 4xx, and a
//! 400 names the field at fault. `STRATA_FUZZ_INPUTS` sets how many inputs of each kind
//! (CI's default is small; docs/testing.md's fuzz command runs a million).

use serde_json::{Value, json};
use strata_core::{Environment, SpecError};

mod support;
use support::*;

fn inputs() -> u64 {
    std::env::var("STRATA_FUZZ_INPUTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3_000)
}

/// splitmix64: reproducible from its seed, which a failure prints.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    fn text(&mut self, max: u64) -> String {
        const CHARS: &[char] = &[
            'a', 'z', 'A', '0', '9', '-', '_', '.', '/', ':', ' ', '\n', '\t', '"', '\'', '{', '}',
            '[', ']', '#', '&', '*', '!', '|', '>', '%', 'é', '日', '\u{0}', '\u{feff}',
        ];
        (0..self.below(max + 1))
            .map(|_| *self.pick(CHARS))
            .collect()
    }
    fn bytes(&mut self, max: u64) -> Vec<u8> {
        (0..self.below(max + 1))
            .map(|_| self.next() as u8)
            .collect()
    }
    /// A JSON value of any type, numbers at their edges included.
    fn value(&mut self, depth: u32) -> Value {
        match self.below(if depth > 2 { 7 } else { 9 }) {
            0 => Value::Null,
            1 => json!(self.below(2) == 0),
            2 => json!(*self.pick(&[0i64, -1, 1, 20, 65_536, i64::MAX, i64::MIN])),
            3 => json!(*self.pick(&[0.5f64, -2.5, 1e300])),
            4 => json!(self.text(24)),
            5 => json!(*self.pick(&["10.0.0.0/16", "1.31", "72h", "postgres", "staging", "", "0"])),
            6 => json!(u64::MAX),
            7 => Value::Array((0..self.below(3)).map(|_| self.value(depth + 1)).collect()),
            _ => {
                let mut map = serde_json::Map::new();
                for _ in 0..self.below(3) {
                    map.insert(self.text(8), self.value(depth + 1));
                }
                Value::Object(map)
            }
        }
    }
}

/// A random node of `tree`, by a walk from the root.
fn walk<'a>(rng: &mut Rng, tree: &'a mut Value) -> &'a mut Value {
    let mut node = tree;
    while rng.below(4) != 0 {
        let len = match &*node {
            Value::Object(map) => map.len(),
            Value::Array(items) => items.len(),
            _ => 0,
        };
        if len == 0 {
            break;
        }
        let i = rng.below(len as u64) as usize;
        node = match node {
            Value::Object(map) => map.values_mut().nth(i).unwrap(),
            Value::Array(items) => &mut items[i],
            _ => unreachable!(),
        };
    }
    node
}

/// The example with one to four generated mutations.
fn mutated(rng: &mut Rng, example: &Value) -> Value {
    let mut tree = example.clone();
    for _ in 0..=rng.below(4) {
        let value = rng.value(0);
        let key = rng.text(10);
        let node = walk(rng, &mut tree);
        match (rng.below(3), &mut *node) {
            (0, Value::Object(map)) if !map.is_empty() => {
                let i = rng.below(map.len() as u64) as usize;
                let k = map.keys().nth(i).unwrap().clone();
                map.remove(&k);
            }
            (1, Value::Object(map)) => {
                map.insert(key, value);
            }
            _ => *node = value,
        }
    }
    tree
}

/// A refusal names what is wrong: a field path, or (for text that is no document) a reason.
fn check_refusal(error: &SpecError, input: &dyn std::fmt::Debug) {
    match error {
        SpecError::Invalid(fields) => {
            assert!(!fields.is_empty(), "no field named for {input:?}");
            for f in fields {
                assert!(
                    !f.path.is_empty() && !f.message.is_empty(),
                    "{f:?} for {input:?}"
                );
            }
        }
        other => assert!(!other.to_string().is_empty(), "{input:?}"),
    }
}

#[test]
fn the_spec_parser_takes_generated_documents_without_a_panic_and_names_every_field_it_refuses() {
    let example: Value = Environment::parse(&staging_text()).unwrap().to_json();
    let n = inputs();
    let seed = 0x5EED_0001;
    let mut rng = Rng(seed);
    let (mut accepted, mut refused) = (0u64, 0u64);
    for i in 0..n {
        let outcome = match i % 4 {
            // Raw bytes, as text.
            0 => {
                let text = String::from_utf8_lossy(&rng.bytes(256)).into_owned();
                Environment::parse(&text).map_err(|e| (e, json!(text)))
            }
            // Text near YAML: characters YAML gives meaning to.
            1 => {
                let text = format!("{}{}", rng.text(12), rng.text(64));
                Environment::parse(&text).map_err(|e| (e, json!(text)))
            }
            // The example mutated, as a JSON body and as YAML text.
            2 => {
                let tree = mutated(&mut rng, &example);
                Environment::from_value(tree.clone()).map_err(|e| (e, tree))
            }
            _ => {
                let tree = mutated(&mut rng, &example);
                let text = serde_yaml_ng::to_string(&tree).unwrap();
                Environment::parse(&text).map_err(|e| (e, tree))
            }
        };
        match outcome {
            Ok(env) => {
                accepted += 1;
                // What is accepted stands on its own: written out, it reads back the same.
                let again = Environment::from_value(env.to_json()).unwrap();
                assert_eq!(again, env, "seed {seed:#x}, input {i}");
            }
            Err((error, input)) => {
                refused += 1;
                check_refusal(&error, &input);
            }
        }
    }
    println!(
        "spec parser: {n} inputs (seed {seed:#x}): {accepted} accepted, {refused} refused with a field or reason, 0 panics"
    );
    assert!(
        accepted > 0 && refused > 0,
        "the generator reaches both sides"
    );
}

#[tokio::test]
async fn the_api_takes_generated_requests_answering_4xx_with_the_field_at_fault_never_5xx() {
    let api = api();
    let example: Value = Environment::parse(&staging_text()).unwrap().to_json();
    // One environment exists, so that routes get past "not found" too.
    assert_eq!(
        put(&api, "/environments/staging", &staging_text(), NOW)
            .await
            .status,
        202
    );
    let n = inputs();
    let seed = 0x5EED_0002;
    let mut rng = Rng(seed);
    let mut by_status = std::collections::BTreeMap::<u16, u64>::new();
    let tails = [
        "",
        "/plan",
        "/history",
        "/rollback",
        "/ttl",
        "/sync",
        "/cancel",
        "/x",
        "/",
    ];
    let keys = ["limit", "cursor", "allowRecreate", "extendBy", "x", ""];
    for i in 0..n {
        let name = match rng.below(4) {
            0 => "staging".to_owned(),
            1 => "absent".to_owned(),
            2 => "A".repeat(rng.below(80) as usize),
            _ => rng
                .text(16)
                .bytes()
                .map(|b| format!("%{b:02X}"))
                .collect::<String>(),
        };
        let tail = *rng.pick(&tails);
        let path = match rng.below(6) {
            0 => "/environments".to_owned(),
            1 => format!("/{}", rng.pick(&["", "environment", "environments/"])),
            _ => format!("/environments/{name}{tail}"),
        };
        // Mostly a method the route takes, so that requests get past routing.
        let method = match (rng.below(4), tail) {
            (0, _) => *rng.pick(&["GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS"]),
            (_, "") => *rng.pick(&["GET", "PUT", "DELETE"]),
            (_, "/history") => "GET",
            _ => "POST",
        };
        let query: Vec<String> = (0..rng.below(3))
            .map(|_| {
                let value: String = rng.text(12).bytes().map(|b| format!("%{b:02X}")).collect();
                format!("{}={value}", rng.pick(&keys))
            })
            .collect();
        let target = if query.is_empty() {
            path
        } else {
            format!("{path}?{}", query.join("&"))
        };
        let content_type = *rng.pick(&[
            None,
            Some("application/json"),
            Some("application/yaml"),
            Some("text/plain"),
            Some("application/json; charset=utf-8"),
        ]);
        let body: Option<Vec<u8>> = match rng.below(5) {
            0 => None,
            1 => Some(rng.bytes(128)),
            2 => Some(format!(r#"{{"extendBy": {}}}"#, rng.value(2)).into_bytes()),
            _ => {
                let mut tree = mutated(&mut rng, &example);
                if let Some(metadata) = tree.get_mut("metadata").and_then(Value::as_object_mut) {
                    if rng.below(2) == 0 {
                        metadata.insert("name".into(), json!(name));
                    }
                }
                Some(serde_json::to_vec(&tree).unwrap())
            }
        };
        // NOW + i: leases and reservations come and go as in time.
        let answer = call(
            &api,
            event(method, &target, content_type, body.as_deref()),
            NOW + i,
        )
        .await;
        let status = answer.status.as_u16();
        *by_status.entry(status).or_default() += 1;
        assert!(
            status < 500,
            "seed {seed:#x}, input {i}: {method} {target} answered {status}: {}",
            answer.body
        );
        if status >= 400 {
            assert!(answer.body["error"]["code"].is_string(), "{}", answer.body);
        }
        if status == 400 {
            let paths = error_paths(&answer.body);
            assert!(
                !paths.is_empty() && paths.iter().all(|p| !p.is_empty()),
                "input {i}: {method} {target}: a 400 without the field at fault: {}",
                answer.body
            );
        }
    }
    println!("API: {n} requests (seed {seed:#x}) by status {by_status:?}, 0 panics, 0 5xx");
    assert!(
        by_status.keys().any(|s| *s < 300),
        "some requests got through"
    );
}
