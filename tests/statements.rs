//! The statement parser and the requirements on real BuildKit provenance
//! (`tests/fixtures/provenance/`, SOURCES.md says where each came from): SLSA v0.2
//! and v1, mode=min and max, in-toto Statement v0.1 and v1, a GitHub Actions
//! builder id, and a statement about another image.

use ecr_lambda::digest::Digest;
use ecr_lambda::manifest::statement::{
    self, Field, ProvenanceRequirements, Read, SLSA_V1, SLSA_V02, Statement,
};
use serde_json::Value;

fn sample(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/provenance/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn subject_of(doc: &Value) -> Digest {
    format!(
        "sha256:{}",
        doc["subject"][0]["digest"]["sha256"].as_str().unwrap()
    )
    .parse()
    .unwrap()
}

fn parse(name: &str) -> Statement {
    let doc = sample(name);
    let s = statement::parse(doc.to_string().as_bytes(), &subject_of(&doc)).unwrap();
    assert!(s.subject_matches, "{name}");
    s
}

const ALPINE: &str = "sha256:8914eb54f968791faf6a8638949e480fef81e697984fba772b3976835194c6d4";

#[test]
fn slsa_v02_mode_min_and_max() {
    for name in ["buildkit-v0.2-min.json", "buildkit-v0.2-max.json"] {
        let s = parse(name);
        assert_eq!(s.predicate_type, SLSA_V02);
        assert_eq!(s.builder_id, None, "BuildKit's own builds name no builder");
        assert_eq!(s.frontend.as_deref(), Some("dockerfile.v0"));
        assert_eq!(s.materials.len(), 1);
        assert_eq!(
            s.materials[0].uri,
            "pkg:docker/alpine@latest?platform=linux%2Famd64"
        );
        assert_eq!(s.materials[0].digest.as_deref(), Some(ALPINE));
        // A local context: no configSource.uri, and these samples carry no vcs.
        assert_eq!((s.source.as_deref(), s.revision.as_deref()), (None, None));
        assert!(
            s.started_on
                .as_deref()
                .unwrap()
                .starts_with("2022-12-08T11:")
        );
        assert!(s.finished_on.is_some());
    }
}

#[test]
fn slsa_v1_mode_min_and_max_in_both_statement_versions() {
    for name in [
        "buildkit-v1-min.json",
        "buildkit-v1-max.json",
        "buildkit-v1-min-statement-v0.1.json",
        "buildkit-v1-max-statement-v0.1.json",
    ] {
        let s = parse(name);
        assert_eq!(s.predicate_type, SLSA_V1, "{name}");
        assert_eq!(s.frontend.as_deref(), Some("dockerfile.v0"), "{name}");
        assert_eq!(s.materials[0].digest.as_deref(), Some(ALPINE), "{name}");
        assert!(s.started_on.is_some() && s.finished_on.is_some(), "{name}");
        assert_eq!(s.source, None, "{name}");
    }
}

#[test]
fn a_github_actions_build_names_its_run_its_repository_and_its_commit() {
    let s = parse("github-actions-v0.2.json");
    assert_eq!(
        s.builder_id.as_deref(),
        Some("https://github.com/api3dao/api3-dao-dashboard/actions/runs/8781350553")
    );
    assert_eq!(
        s.source.as_deref(),
        Some("https://github.com/api3dao/api3-dao-dashboard")
    );
    assert_eq!(
        s.revision.as_deref(),
        Some("ef58bfb106d4419c5fbc9828ec4a335831dce883")
    );
    assert_eq!(
        s.to_string(),
        "built from https://github.com/api3dao/api3-dao-dashboard@ef58bfb106d4 by \
         https://github.com/api3dao/api3-dao-dashboard/actions/runs/8781350553 at \
         2024-04-22T09:03:14.218599696Z"
    );
    let required = ProvenanceRequirements {
        source: Some("https://GITHUB.com/api3dao/api3-dao-dashboard.git".into()),
        revision: Some("ef58bfb106d4".parse().unwrap()),
        builder: Some("https://github.com/api3dao/api3-dao-dashboard/actions/runs/".into()),
        ..ProvenanceRequirements::default()
    };
    let target = s.subjects[0].parse().unwrap();
    let (problems, fields) =
        statement::judge(&required, "app:v1", &target, &[Read::Statement(s.clone())]);
    assert!(problems.is_empty(), "{problems:?}");
    assert!(fields.iter().all(|f| f.ok) && fields.len() == 3);

    // Another commit, another builder: each field said, expected against found.
    let wrong = ProvenanceRequirements {
        revision: Some("0000000000000000000000000000000000000000".parse().unwrap()),
        builder: Some("https://github.com/someone-else/".into()),
        ..required
    };
    let (problems, fields) = statement::judge(&wrong, "app:v1", &target, &[Read::Statement(s)]);
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].code.as_str(), "provenance-mismatch");
    let message = &problems[0].message;
    assert!(
        message.contains(
            "revision: expected 0000000000000000000000000000000000000000, found \
             ef58bfb106d4419c5fbc9828ec4a335831dce883"
        ),
        "{message}"
    );
    assert!(message.contains("builder: expected https://github.com/someone-else/"));
    let failed: Vec<Field> = fields.iter().filter(|f| !f.ok).map(|f| f.field).collect();
    assert_eq!(failed, [Field::Revision, Field::Builder]);
}

#[test]
fn buildx_records_the_checkout_as_vcs_in_the_predicate() {
    // docker/buildx's documented `history inspect attachment` output: a predicate.
    let predicate = sample("buildx-history-v0.2-predicate.json");
    let target = format!("sha256:{}", "e".repeat(64));
    let doc = serde_json::json!({
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": SLSA_V02,
        "subject": [{"name": "pkg:docker/app", "digest": {"sha256": "e".repeat(64)}}],
        "predicate": predicate,
    });
    let s = statement::parse(doc.to_string().as_bytes(), &target.parse().unwrap()).unwrap();
    assert_eq!(s.source.as_deref(), Some("git@github.com:<org>/<repo>.git"));
    assert_eq!(
        s.revision.as_deref(),
        Some("a9ba846486420e07d30db1107411ac3697ecab68")
    );
    assert_eq!(s.frontend.as_deref(), Some("gateway.v0"));
    assert_eq!(s.materials.len(), 2);
}

#[test]
fn a_statement_about_another_image_is_reported_and_never_counts() {
    let doc = sample("github-actions-v0.2.json");
    let other: Digest = format!("sha256:{}", "7".repeat(64)).parse().unwrap();
    let s = statement::parse(doc.to_string().as_bytes(), &other).unwrap();
    assert!(!s.subject_matches);
    let required = ProvenanceRequirements {
        require_provenance: true,
        ..ProvenanceRequirements::default()
    };
    let (problems, _) = statement::judge(&required, "app:v1", &other, &[Read::Statement(s)]);
    assert_eq!(problems[0].code.as_str(), "provenance-missing");
    assert!(
        problems[0].message.contains("name another image"),
        "{}",
        problems[0].message
    );
}

#[test]
fn what_is_not_a_statement_says_why() {
    let target: Digest = format!("sha256:{}", "e".repeat(64)).parse().unwrap();
    let err = |bytes: &[u8]| statement::parse(bytes, &target).unwrap_err().to_string();
    assert!(err(b"{not json").contains("not a JSON object"));
    assert!(err(br#"{"_type":"x"}"#).contains("not an in-toto statement"));
    let spdx = serde_json::json!({
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": "https://spdx.dev/Document",
        "subject": [{"digest": {"sha256": "e".repeat(64)}}],
    });
    assert!(err(spdx.to_string().as_bytes()).contains("is not SLSA provenance"));
    let (problems, _) = statement::judge(
        &ProvenanceRequirements {
            require_provenance: true,
            ..ProvenanceRequirements::default()
        },
        "app:v1",
        &target,
        &[Read::Unreadable("too large".into())],
    );
    assert_eq!(problems[0].code.as_str(), "provenance-unreadable");
}
