//! `refusal`: when a release cannot start on an alias.

use super::*;

fn state(role: &str, dlq: Option<&str>) -> FunctionState {
    FunctionState {
        name: "f".into(),
        arn: "arn:aws:lambda:us-east-1:123456789012:function:f".into(),
        region: "us-east-1".into(),
        architectures: vec!["x86_64".into()],
        is_image: true,
        overrides_command: false,
        state: None,
        state_reason: None,
        state_reason_code: None,
        last_update_reason_code: None,
        last_update: None,
        last_update_reason: None,
        revision_id: None,
        role: Some(role.into()),
        dead_letter_target: dlq.map(str::to_owned),
        version: None,
        timeout: None,
        image_uri: None,
        running_digest: None,
        running_repository: None,
        capacity_provider: None,
    }
}

fn alias(version: &str, weights: &[(&str, f64)]) -> Alias {
    Alias {
        name: "live".into(),
        version: version.into(),
        revision_id: Some("r1".into()),
        weights: weights.iter().map(|(v, w)| ((*v).to_owned(), *w)).collect(),
        description: None,
    }
}

#[test]
fn a_release_starts_only_from_a_plain_alias_on_a_compatible_version() {
    let f: FunctionRef = "f".parse().unwrap();
    let same = state("role-a", None);
    let refuse = |a: Option<&Alias>, current: &FunctionState, latest: &FunctionState| {
        refusal(&f, "live", a, Some(current), latest)
    };
    assert_eq!(refuse(Some(&alias("3", &[])), &same, &same), None);
    assert!(
        refuse(None, &same, &same)
            .unwrap()
            .contains("plain `ecr-lambda deploy")
    );
    assert!(
        refuse(Some(&alias("3", &[("4", 0.1)])), &same, &same)
            .unwrap()
            .contains("already routes 10% to version 4")
    );
    assert!(
        refuse(Some(&alias("$LATEST", &[])), &same, &same)
            .unwrap()
            .contains("$LATEST")
    );
    let role = refuse(Some(&alias("3", &[])), &same, &state("role-b", None)).unwrap();
    assert!(
        role.contains("execution roles (role-a and role-b)"),
        "{role}"
    );
    let dlq = refuse(
        Some(&alias("3", &[])),
        &state("role-a", Some("arn:aws:sqs:us-east-1:123456789012:dlq")),
        &same,
    )
    .unwrap();
    assert!(dlq.contains("dead-letter queues"), "{dlq}");
}
