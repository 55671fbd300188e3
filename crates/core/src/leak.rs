//! Whether a text carries one of the environment's secret values: the one check every
//! answer from outside Strata passes (a team function's answer or error message, a custom
//! component's outputs) before it is stored, logged or shown. A value is looked for as it
//! is and as it travels when someone tries to hide it or merely serialises it: escaped in a
//! JSON string, base64 (standard or URL-safe, at any alignment inside a longer encoded
//! text), and URL-encoded (percent or form encoding).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

/// A secret value shorter than this is not looked for: a word that short appears anywhere.
pub const MIN_SECRET_CHARS: usize = 6;

/// The shortest run of base64 characters that counts as the secret's encoding: shorter
/// runs (from a short value at an unlucky alignment) would match by chance.
const MIN_BASE64_CHARS: usize = 8;

/// Where the first of `secrets` (each the value and where it comes from) found in `text`
/// comes from, or `None`. The answer never holds the value itself.
pub fn leaked<'a>(text: &str, secrets: &'a [(String, String)]) -> Option<&'a str> {
    secrets
        .iter()
        .filter(|(value, _)| value.chars().count() >= MIN_SECRET_CHARS)
        .find(|(value, _)| encodings(value).iter().any(|e| text.contains(e.as_str())))
        .map(|(_, source)| source.as_str())
}

/// Every form of `value` looked for.
fn encodings(value: &str) -> Vec<String> {
    let mut forms = vec![value.to_owned()];
    let escaped = serde_json::to_string(value).unwrap_or_default();
    forms.push(escaped.trim_matches('"').to_owned());
    let percent = utf8_percent_encode(value, NON_ALPHANUMERIC).to_string();
    // Form encoding writes spaces as `+`; lower-case hex escapes are as valid as upper.
    forms.push(percent.replace("%20", "+"));
    forms.push(lower_hex_escapes(&percent));
    forms.push(percent);
    forms.extend(base64_runs(value.as_bytes()));
    forms.sort();
    forms.dedup();
    forms
}

/// `%2F` as `%2f`.
fn lower_hex_escapes(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut rest = encoded.chars();
    while let Some(c) = rest.next() {
        out.push(c);
        if c == '%' {
            out.extend(rest.by_ref().take(2).map(|h| h.to_ascii_lowercase()));
        }
    }
    out
}

/// The base64 characters that depend on `bytes` alone, for each of the three alignments
/// the value can have inside a longer encoded text, in both alphabets: the groups of three
/// bytes that hold only the value's bytes encode to the same four characters wherever the
/// value sits.
fn base64_runs(bytes: &[u8]) -> Vec<String> {
    let mut runs = Vec::new();
    for shift in 0..3 {
        let mut data = vec![0u8; shift];
        data.extend_from_slice(bytes);
        let whole_groups = data.len() / 3;
        let first = usize::from(shift > 0);
        if whole_groups <= first {
            continue;
        }
        let encoded = STANDARD_NO_PAD.encode(&data[..whole_groups * 3]);
        let run = &encoded[first * 4..];
        if run.len() >= MIN_BASE64_CHARS {
            runs.push(run.to_owned());
            let url = URL_SAFE_NO_PAD.encode(&data[..whole_groups * 3]);
            runs.push(url[first * 4..].to_owned());
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets() -> Vec<(String, String)> {
        vec![(
            "s3cr3t pass/word\"x".to_owned(),
            "the database master secret".to_owned(),
        )]
    }

    #[test]
    fn the_value_is_found_raw_escaped_base64_and_url_encoded() {
        let s = secrets();
        let value = s[0].0.as_str();
        let json = serde_json::json!({ "dsn": format!("postgres://app:{value}@db") }).to_string();
        let percent = utf8_percent_encode(value, NON_ALPHANUMERIC).to_string();
        let form = percent.replace("%20", "+");
        let mut found = vec![
            format!("raw {value}"),
            json,
            format!("url postgres://app:{percent}@db"),
            format!("form password={form}&x=1"),
            format!("lower {}", lower_hex_escapes(&percent)),
        ];
        // Base64 of a longer text, at each alignment, both alphabets, padded or not.
        for prefix in ["", "a", "ab", "abc"] {
            let whole = format!("{prefix}user:{value}:end");
            found.push(base64::engine::general_purpose::STANDARD.encode(&whole));
            found.push(URL_SAFE_NO_PAD.encode(&whole));
        }
        for text in &found {
            assert_eq!(
                leaked(text, &s),
                Some("the database master secret"),
                "not found in {text}"
            );
        }
    }

    #[test]
    fn other_text_and_short_values_are_not_leaks() {
        let s = secrets();
        assert_eq!(leaked(r#"{"smoke": "ok", "version": 3}"#, &s), None);
        assert_eq!(
            leaked(&STANDARD_NO_PAD.encode("something else entirely"), &s),
            None
        );
        // Too short to look for: it would match anywhere.
        let short = vec![("abc".to_owned(), "x".to_owned())];
        assert_eq!(leaked("abc", &short), None);
    }
}
