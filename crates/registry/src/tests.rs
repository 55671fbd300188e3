//! Registry names, auth challenges and pagination links, read from scripted answers.

use super::*;
use hyper::header::HeaderValue;

#[test]
fn images_name_their_registry() {
    for (image, expected) in [
        (
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/api",
            Repository::Ecr {
                registry_id: "123456789012".into(),
                region: "eu-west-1".into(),
                name: "shop/api".into(),
            },
        ),
        (
            "ghcr.io/acme/web",
            Repository::Oci {
                base: "https://ghcr.io".into(),
                name: "acme/web".into(),
            },
        ),
        (
            "127.0.0.1:5000/shop/ui",
            Repository::Oci {
                base: "http://127.0.0.1:5000".into(),
                name: "shop/ui".into(),
            },
        ),
        (
            "localhost/ui",
            Repository::Oci {
                base: "http://localhost".into(),
                name: "ui".into(),
            },
        ),
        (
            "docker.io/library/nginx",
            Repository::Oci {
                base: "https://registry-1.docker.io".into(),
                name: "library/nginx".into(),
            },
        ),
        (
            "bitnami/redis",
            Repository::Oci {
                base: "https://registry-1.docker.io".into(),
                name: "bitnami/redis".into(),
            },
        ),
        (
            "nginx",
            Repository::Oci {
                base: "https://registry-1.docker.io".into(),
                name: "library/nginx".into(),
            },
        ),
    ] {
        assert_eq!(Repository::parse(image), expected, "{image}");
    }
}

fn headers(name: hyper::header::HeaderName, values: &[&str]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for v in values {
        map.append(name.clone(), HeaderValue::from_str(v).unwrap());
    }
    map
}

#[test]
fn a_bearer_challenge_is_read_with_quoted_commas() {
    let challenge = bearer_challenge(&headers(
        WWW_AUTHENTICATE,
        &[
            "Basic realm=\"x\"",
            "Bearer realm=\"https://auth.example/token\",service=\"registry.example\",scope=\"repository:a/b:pull,push\"",
        ],
    ));
    assert_eq!(
        challenge,
        Some(Challenge {
            realm: "https://auth.example/token".into(),
            service: Some("registry.example".into()),
            scope: Some("repository:a/b:pull,push".into()),
        })
    );
    assert_eq!(
        bearer_challenge(&headers(WWW_AUTHENTICATE, &["Basic realm=\"x\""])),
        None
    );
    assert_eq!(
        bearer_challenge(&headers(WWW_AUTHENTICATE, &["Bearer service=\"s\""])),
        None,
        "a challenge without a realm names nowhere to ask"
    );
}

#[test]
fn the_next_link_is_followed_relative_or_absolute() {
    let base = "http://127.0.0.1:5000";
    assert_eq!(
        next_page(
            base,
            &headers(LINK, &["</v2/ui/tags/list?n=2&last=b>; rel=\"next\""])
        ),
        Some("http://127.0.0.1:5000/v2/ui/tags/list?n=2&last=b".into())
    );
    assert_eq!(
        next_page(
            base,
            &headers(
                LINK,
                &["<https://r.example/a>; rel=\"prev\", <https://r.example/b>; rel=next"]
            )
        ),
        Some("https://r.example/b".into())
    );
    assert_eq!(next_page(base, &HeaderMap::new()), None);
}
