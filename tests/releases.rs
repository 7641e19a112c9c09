//! Releases end to end against the emulator (updates take time there): a version
//! published and an alias moved by `deploy --alias`, and moved back by `rollback`.

mod support;

use aws_sdk_lambda::types::Architecture;
use serde_json::Value;
use support::*;

fn alias_of(report: &Value) -> (Value, Value, Value) {
    let alias = &report["alias"];
    (
        alias["version"].clone(),
        alias["previous_version"].clone(),
        alias["created"].clone(),
    )
}

async fn alias_version(function: &str, name: &str) -> String {
    lambda()
        .await
        .get_alias()
        .function_name(function)
        .name(name)
        .send()
        .await
        .unwrap()
        .function_version()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn deploy_alias_creates_then_keeps_then_moves_the_alias() {
    let (repo, function, case) = buildx_setup("buildx-single", "v1", Architecture::X8664).await;
    let target = case.child("image-amd64.json").digest.clone();

    // Created, pointing at the version the update published.
    let out = deploy(&uri(&repo, ":v1"), &function, &["--alias", "live"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["update"]["status"], "successful");
    assert_eq!(report["update"]["version"], "1");
    assert_eq!(
        alias_of(&report),
        (Value::from("1"), Value::Null, Value::from(true))
    );
    assert_eq!(alias_version(&function, "live").await, "1");

    // Again: the alias already runs the target; nothing is written.
    let out = deploy(&uri(&repo, ":v1"), &function, &["--alias", "live"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["update"]["status"], "unchanged");
    assert_eq!(
        alias_of(&report),
        (Value::from("1"), Value::from("1"), Value::from(false))
    );
    assert_eq!(lambda_reads(&function)["update_function_code"], 1);

    // Another alias for the code $LATEST already runs: version 1 is reused, no update.
    let out = deploy(&uri(&repo, ":v1"), &function, &["--alias", "canary"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["update"]["status"], "unchanged");
    assert_eq!(
        alias_of(&report),
        (Value::from("1"), Value::Null, Value::from(true))
    );

    // A new image: published as version 2, the alias moved there.
    let base = load_case("docker-v2").root.digest;
    let out = deploy(&uri(&repo, ":base"), &function, &["--alias", "live"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(
        alias_of(&report),
        (Value::from("2"), Value::from("1"), Value::from(false))
    );
    assert_eq!(alias_version(&function, "live").await, "2");
    assert_runs(&function, &base).await;
    // Version 1 keeps the first image.
    let (_, v1) = version_image(&function, "1").await;
    assert!(v1.unwrap().ends_with(&target));
}

async fn version_image(function: &str, version: &str) -> (Option<String>, Option<String>) {
    let out = lambda()
        .await
        .get_function()
        .function_name(function)
        .qualifier(version)
        .send()
        .await
        .unwrap();
    let code = out.code().unwrap();
    (
        code.image_uri().map(str::to_owned),
        code.resolved_image_uri().map(str::to_owned),
    )
}
