//! Tag listing against the real things: moto's ECR, and a real OCI distribution registry
//! (Debian's `docker-registry`) behind the local stack's bearer-token, paging gate; ECR's
//! paging and errors with scripted responses (moto answers DescribeImages in one page).

use aws_sdk_ecr::Client;
use aws_sdk_ecr::operation::describe_images::{DescribeImagesError, DescribeImagesOutput};
use aws_sdk_ecr::types::ImageDetail;
use aws_sdk_ecr::types::error::RepositoryNotFoundException;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use strata_core::versions::newest_satisfying;
use strata_localstack::oci::OciRegistry;
use strata_localstack::{LocalStack, Options};
use strata_registry::{OciClient, Registries, RegistryError, TagSource, ecr_tags};

/// Pre-releases, a `v` prefix, non-semver tags, and more tags than one page (100).
fn tag_set() -> Vec<String> {
    let mut tags: Vec<String> = (1..=120).map(|patch| format!("0.0.{patch}")).collect();
    tags.extend(
        [
            "1.3.9",
            "1.4.0",
            "v1.4.2",
            "1.5.0-rc.1",
            "1.5.0-beta.2",
            "2.0.0",
            "latest",
            "1.4",
            "sha-abc",
        ]
        .map(str::to_owned),
    );
    tags
}

/// Constraint → the tag it must pick from [`tag_set`].
const PICKS: &[(&str, Option<&str>)] = &[
    ("^1.4", Some("v1.4.2")),
    ("~1.4.0", Some("v1.4.2")),
    ("=1.4.0", Some("1.4.0")),
    // A pre-release only when the constraint names one of that version.
    ("^1", Some("v1.4.2")),
    (">=1.5.0-beta.1, <2", Some("1.5.0-rc.1")),
    ("^2", Some("2.0.0")),
    ("^3", None),
    // Found only on the second page of the registry's listing.
    ("~0.0.119", Some("0.0.120")),
    ("<0.0.110", Some("0.0.109")),
];

fn check_picks(source: &str, tags: &[String]) {
    for (constraint, expected) in PICKS {
        assert_eq!(
            newest_satisfying(constraint, tags.iter().map(String::as_str)),
            *expected,
            "{source}: {constraint}"
        );
    }
}

#[tokio::test]
async fn the_newest_matching_tag_comes_from_ecr_and_from_an_oci_registry_alike() {
    let stack = LocalStack::start(Options {
        lambdas: false,
        ..Options::default()
    })
    .await
    .expect("the local stack starts");
    let registry = OciRegistry::start().await.expect("docker-registry starts");
    let tags = tag_set();
    for tag in &tags {
        stack
            .push_image("us-east-1", "shop/api", tag)
            .await
            .expect("pushed to ECR");
        registry
            .push("shop/api", tag)
            .await
            .expect("pushed to the registry");
    }
    let registries = Registries::new(stack.sdk_config());
    let mut expected = tags.clone();
    expected.sort();

    let mut from_ecr = registries
        .tags("123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/api")
        .await
        .expect("ECR lists the tags");
    from_ecr.sort();
    assert_eq!(from_ecr, expected);
    check_picks("ECR", &from_ecr);

    let mut from_oci = registries
        .tags(&format!("{}/shop/api", registry.host()))
        .await
        .expect("the registry lists the tags");
    assert_eq!(
        registry.tokens_issued(),
        1,
        "the bearer challenge was answered once for the whole listing"
    );
    assert_eq!(registry.pages_served(), 2, "129 tags in pages of 100");
    from_oci.sort();
    assert_eq!(from_oci, expected);
    check_picks("OCI", &from_oci);

    // An image in another account's registry (a shared tooling account, as organisations
    // keep them): the stand-in puts it there, and only there.
    stack
        .push_image_to("210987654321", "us-east-1", "shop/tools", "0.9.0")
        .await
        .expect("pushed to the other account's ECR");
    let other = registries
        .tags("210987654321.dkr.ecr.us-east-1.amazonaws.com/shop/tools")
        .await
        .expect("the other account's registry lists it");
    assert_eq!(other, ["0.9.0"]);
    let ours = registries
        .tags("123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/tools")
        .await;
    assert!(matches!(ours, Err(RegistryError::NotFound(_))), "{ours:?}");

    let missing = registries
        .tags(&format!("{}/shop/nothing", registry.host()))
        .await;
    assert!(
        matches!(&missing, Err(RegistryError::NotFound(m)) if m.contains("NAME_UNKNOWN")),
        "{missing:?}"
    );
    let missing = registries
        .tags("123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/nothing")
        .await;
    assert!(
        matches!(&missing, Err(RegistryError::NotFound(m)) if m.contains("RepositoryNotFoundException")),
        "{missing:?}"
    );
}

#[tokio::test]
async fn an_unreachable_registry_is_worth_retrying() {
    // A port nothing listens on: bound, then dropped.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let answer = OciClient::new()
        .tags(&format!("http://127.0.0.1:{port}"), "shop/api")
        .await;
    assert!(
        matches!(&answer, Err(RegistryError::Unavailable(_))),
        "{answer:?}"
    );
}

fn page(tags: &[&[&str]], next: Option<&str>) -> DescribeImagesOutput {
    DescribeImagesOutput::builder()
        .set_image_details(Some(
            tags.iter()
                .map(|t| {
                    ImageDetail::builder()
                        .set_image_tags(Some(t.iter().map(|s| (*s).to_owned()).collect()))
                        .build()
                })
                .collect(),
        ))
        .set_next_token(next.map(str::to_owned))
        .build()
}

#[tokio::test]
async fn every_describe_images_page_is_read() {
    let pages = [
        mock!(Client::describe_images)
            .match_requests(|r| r.next_token().is_none())
            .then_output(|| page(&[&["1.0.0", "latest"], &["1.1.0"]], Some("p2"))),
        mock!(Client::describe_images)
            .match_requests(|r| r.next_token() == Some("p2"))
            .then_output(|| page(&[&[], &["v1.2.0"]], Some("p3"))),
        mock!(Client::describe_images)
            .match_requests(|r| r.next_token() == Some("p3"))
            .then_output(|| page(&[&["2.0.0-rc.1"]], None)),
    ];
    let client = mock_client!(aws_sdk_ecr, RuleMode::MatchAny, &pages);
    let tags = ecr_tags(&client, "123456789012", "shop/api").await.unwrap();
    assert_eq!(tags, ["1.0.0", "latest", "1.1.0", "v1.2.0", "2.0.0-rc.1"]);
    assert_eq!(
        newest_satisfying("^1", tags.iter().map(String::as_str)),
        Some("v1.2.0")
    );
}

#[tokio::test]
async fn ecr_errors_say_whether_a_retry_helps() {
    let missing = mock!(Client::describe_images).then_error(|| {
        DescribeImagesError::RepositoryNotFoundException(
            RepositoryNotFoundException::builder()
                .message("The repository with name 'shop/api' does not exist")
                .build(),
        )
    });
    let client = mock_client!(aws_sdk_ecr, [&missing]);
    let answer = ecr_tags(&client, "123456789012", "shop/api").await;
    assert!(
        matches!(&answer, Err(RegistryError::NotFound(m)) if m.contains("does not exist")),
        "{answer:?}"
    );
}
