//! Two teams on one control plane, each signing with its own IAM principal: a role tagged
//! `strata:team` in the local stack's IAM, assumed through its STS. The CLI talks to the
//! API's front door, which checks each signature as API Gateway does and hands the api
//! function the assumed role's ARN; the function reads the role's tags from IAM (under its
//! own evaluated policy). Each team works on its own environment and is refused on the
//! other's — every route, the other's secrets, the other's database secret through a
//! preview — and a refusal stores nothing.

use strata_localstack::principals::Principal;
use strata_testkit::cli::{Ran, Strata, ran, write};
use strata_testkit::{Staging, example_as, local_stack};

const STRATA: Strata = Strata::new(env!("CARGO_BIN_EXE_strata"));

/// `strata ARGS` at the front door `endpoint`, signed with `who`'s credentials.
fn as_(who: &Principal, endpoint: &str, args: &[&str]) -> Ran {
    let ran = ran(STRATA
        .command(args)
        .env("STRATA_ENDPOINT", endpoint)
        .env("AWS_ACCESS_KEY_ID", &who.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", &who.secret_access_key)
        .env("AWS_SESSION_TOKEN", &who.session_token));
    println!(
        "$ strata {}   # as {}\n{}{}",
        args.join(" "),
        who.arn,
        ran.out,
        ran.err
    );
    ran
}

fn refused(ran: &Ran, what: &str, says: &str) {
    assert_ne!(ran.code, 0, "{what} was not refused: {}", ran.out);
    assert!(ran.err.contains(says), "{what}: {}", ran.err);
}

#[tokio::test(flavor = "multi_thread")]
async fn each_team_is_refused_on_the_other_s_environment_and_secrets() {
    let shop_env = example_as("shop");
    assert_eq!(shop_env.team(), Some("shop"));
    let local_stack::Local {
        mut stack,
        files,
        endpoint: local_endpoint,
        ..
    } = local_stack::local(&shop_env).await;
    let front = stack.serve_api().await.unwrap();
    let shop = stack
        .principal("shop-dev", &[("strata:team", "shop")])
        .await
        .unwrap();
    let payments = stack
        .principal("payments-dev", &[("strata:team", "payments")])
        .await
        .unwrap();
    assert!(shop.arn.contains(":assumed-role/shop-dev/"), "{}", shop.arn);

    // A key nobody issued is refused at the door, as API Gateway refuses it.
    let mut forged = shop.clone();
    forged.secret_access_key = "not-the-secret".into();
    refused(
        &as_(&forged, &front, &["get", "shop"]),
        "a forged signature",
        "403",
    );

    // Team shop brings its environment up through the door.
    let shop_file = write(&files, "shop.json", &shop_env);
    let up = as_(&shop, &front, &["apply", "-f", &shop_file, "--wait"]);
    assert_eq!(up.code, 0, "{}", up.err);
    let body = STRATA.get(&local_endpoint, "shop");
    assert_eq!(body["status"]["state"], "Ready", "{body}");
    let master = body["status"]["components"]["database"]["outputs"]["masterUserSecretArn"]
        .as_str()
        .expect("the database names its secret")
        .to_owned();

    // Team payments' environment, its secret under its own prefix.
    let pay_env = Staging::new()
        .side_by_side("pay")
        .with(|e| {
            e.metadata.labels.insert("team".into(), "payments".into());
            let var = &mut e.spec.app.services[1].env[1];
            let arn = var.secret_arn.as_mut().unwrap();
            *arn = arn.replace("secret:strata/shop/", "secret:strata/payments/");
        })
        .build();
    // What payments' CI made before its first apply (the door stands in for the local
    // user only: another team's refused apply makes nothing).
    stack.stand_in_for(&pay_env).await.unwrap();
    let pay_file = write(&files, "pay.json", &pay_env);
    let started = as_(&payments, &front, &["apply", "-f", &pay_file]);
    assert_eq!(started.code, 0, "{}", started.err);
    let cancelled = as_(&payments, &front, &["cancel", "pay"]);
    assert_eq!(cancelled.code, 0, "{}", cancelled.err);

    let history = |name: &str| {
        let ran = STRATA.run(&local_endpoint, &["history", name, "--limit", "100"]);
        assert_eq!(ran.code, 0, "{}", ran.err);
        ran.out
    };
    let shop_history = history("shop");
    assert!(
        shop_history.contains(&shop.arn),
        "the history names the principal"
    );
    let shop_generation = body["generation"].clone();

    // Payments on shop's environment: every route refused, naming both teams.
    let other_team = "belongs to team shop";
    let set_master = format!("spec.app.services[api].env[PAYMENTS_API_KEY].secretArn={master}");
    for args in [
        vec!["get", "shop"],
        vec!["apply", "-f", &shop_file],
        vec!["plan", "-f", &shop_file],
        vec!["delete", "shop"],
        vec!["history", "shop"],
        vec!["rollback", "shop"],
        vec!["sleep", "shop"],
        vec!["wake", "shop"],
        vec!["cancel", "shop"],
        vec!["sync", "shop"],
        vec!["extend", "shop", "--by", "24h"],
        vec![
            "apply",
            "--from",
            "shop",
            "--name",
            "pay-preview",
            "--ttl",
            "24h",
            "--set",
            &set_master,
        ],
    ] {
        refused(&as_(&payments, &front, &args), &args.join(" "), other_team);
    }
    // Shop on payments': the same.
    for args in [
        vec!["get", "pay"],
        vec!["delete", "pay"],
        vec!["apply", "-f", &pay_file],
    ] {
        refused(
            &as_(&shop, &front, &args),
            &args.join(" "),
            "belongs to team payments",
        );
    }
    // A payments spec naming shop's secret, or shop's database secret: refused by field.
    let mut stealing = pay_env.clone();
    stealing.metadata.name = "pay-steal".into();
    stealing.spec.app.services[1].env[1].secret_arn =
        shop_env.spec.app.services[1].env[1].secret_arn.clone();
    let steal_file = write(&files, "steal.json", &stealing);
    refused(
        &as_(&payments, &front, &["apply", "-f", &steal_file]),
        "another team's secret",
        "team payments's prefix",
    );
    stealing.spec.app.services[1].env[1].secret_arn = Some(master.clone());
    let steal_file = write(&files, "steal-db.json", &stealing);
    refused(
        &as_(&payments, &front, &["apply", "-f", &steal_file]),
        "another environment's database secret",
        "secretArn",
    );

    // Nothing stored: shop's spec and history as they were, no preview, no stolen spec; each
    // team's listing shows its own environment only.
    let after = STRATA.get(&local_endpoint, "shop");
    assert_eq!(after["generation"], shop_generation);
    assert_eq!(after["status"]["state"], "Ready", "{after}");
    assert_eq!(history("shop"), shop_history);
    for gone in ["pay-preview", "pay-steal"] {
        let got = STRATA.run(&local_endpoint, &["get", gone]);
        assert_ne!(got.code, 0, "{gone} was stored");
    }
    let listed = as_(&payments, &front, &["get"]);
    assert_eq!(listed.code, 0, "{}", listed.err);
    assert!(
        listed.out.contains("pay") && !listed.out.contains("shop"),
        "{}",
        listed.out
    );
    // The api function read the roles' tags under its own policy, each call decided.
    let report = stack.iam_report();
    assert!(report.unevaluated.is_empty(), "{:?}", report.unevaluated);
    drop(stack);
}
