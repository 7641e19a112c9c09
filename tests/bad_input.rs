//! Bad input, table-driven: every case gets its exit code, a clear message, no panic,
//! and no AWS write. Command-line cases must not reach AWS at all (a proxy counts).

mod support;

use serde_json::{Value, json};
use support::proxy::Fault;
use support::*;

const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const WRITES: [&str; 2] = ["PutImage", "UpdateFunctionCode"];

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

#[test]
fn bad_command_lines_exit_2_with_one_clear_line_and_never_reach_aws() {
    let long_tag = format!("app:{}", "t".repeat(129));
    let long_fn = "f".repeat(65);
    let tag_and_digest = format!("app:v1@sha256:{HEX}");
    let sha512 = format!("app@sha512:{HEX}{HEX}");
    let upper = format!("app@sha256:{}", HEX.to_uppercase());
    let short = format!("app@sha256:{}", &HEX[1..]);
    let digest_ref = format!("app@sha256:{HEX}");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["check", ""], "empty"),
        (vec!["check", " app:v1"], "whitespace"),
        (vec!["check", "app :v1"], "whitespace"),
        (vec!["check", "app\tx:v1"], "whitespace"),
        (vec!["check", "App:v1"], "repository name"),
        (vec!["check", "a"], "repository name"),
        (vec!["check", "team//app"], "repository name"),
        (vec!["check", "app--x"], "repository name"),
        (vec!["check", "app/"], "repository name"),
        (vec!["check", &long_tag], "tag"),
        (vec!["check", "app:-v1"], "tag"),
        (vec!["check", "app:.v1"], "tag"),
        (vec!["check", "app@sha256:abc"], "digest"),
        (vec!["check", &short], "digest"),
        (vec!["check", &upper], "digest"),
        (vec!["check", &sha512], "digest"),
        (
            vec!["check", "app@md5:d41d8cd98f00b204e9800998ecf8427e"],
            "digest",
        ),
        (vec!["check", &tag_and_digest], "both a tag and a digest"),
        (vec!["check", "äpp:v1"], "non-ASCII"),
        (vec!["check", "app:v1\u{1F642}"], "non-ASCII"),
        (
            vec!["check", "docker.io/library/app:v1"],
            "not an Amazon ECR registry",
        ),
        (
            vec!["check", "localhost:5000/app:v1"],
            "not an Amazon ECR registry",
        ),
        (
            vec!["check", "123.dkr.ecr.us-east-1.amazonaws.com/app:v1"],
            "not an Amazon ECR registry",
        ),
        (
            vec![
                "check",
                "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com/app:v1",
            ],
            "not an Amazon ECR registry",
        ),
        (
            vec!["check", "123456789012.dkr.ecr.us-east-1.amazonaws.com/"],
            "repository name",
        ),
        (vec!["check", "app:v1", "--platform", "linux"], "OS/ARCH"),
        (
            vec!["check", "app:v1", "--platform", "LINUX/AMD64"],
            "OS/ARCH",
        ),
        (
            vec!["check", "app:v1", "--platform", "linux/amd64/v8/x"],
            "OS/ARCH",
        ),
        (
            vec!["check", "app:v1", "--platform", "linux/arm/v7"],
            "cannot run on Lambda",
        ),
        (
            vec!["check", "app:v1", "--platform", "windows/amd64"],
            "cannot run on Lambda",
        ),
        (
            vec!["check", "app:v1", "--platform", "linux/riscv64"],
            "cannot run on Lambda",
        ),
        (
            vec!["check", "app:v1", "--function", "bad name"],
            "not a valid name or ARN",
        ),
        (
            vec!["check", "app:v1", "--function", &long_fn],
            "not a valid name or ARN",
        ),
        (
            vec!["check", "app:v1", "--function", "arn:aws:s3:::bucket"],
            "not a valid name or ARN",
        ),
        (
            vec!["check", "app:v1", "--function", "my-fn:3"],
            "version or alias",
        ),
        (vec!["fix", "app:v1", "--tag=-bad"], "tag"),
        (vec!["fix", "app:v1", "--tag=v1@x"], "tag"),
        (vec!["fix", &digest_ref], "--tag"),
        (vec!["deploy", "app:v1"], "--function"),
        (
            vec![
                "deploy",
                "app:v1",
                "--function",
                "f",
                "--no-wait",
                "--wait-timeout",
                "5",
            ],
            "cannot be used with",
        ),
        (
            vec!["deploy", "app:v1", "--function", "f", "--wait-timeout", "0"],
            "0",
        ),
        (vec!["check", "app:v1", "--output", "yaml"], "yaml"),
        (vec!["check", "app:v1", "--max-attempts", "0"], "0"),
        (vec!["check", "app:v1", "--read-timeout", "0"], "0"),
        (vec!["check", "app:v1", "extra"], "unexpected argument"),
        (vec!["check"], "IMAGE"),
        (vec!["nonsense"], "unrecognized subcommand"),
        (vec!["completions", "tcsh"], "tcsh"),
    ];
    assert!(cases.len() >= 40);
    let proxy = proxy();
    for (args, expected) in &cases {
        let out = run_at(&proxy.endpoint(), args);
        let err = stderr(&out);
        assert_eq!(code(&out), 2, "{args:?}: {err}");
        assert!(
            out.stdout.is_empty(),
            "{args:?}: stdout {:?}",
            String::from_utf8_lossy(&out.stdout)
        );
        let line = first_line(&err);
        assert!(line.contains("error"), "{args:?}: first line {line:?}");
        assert!(
            err.contains(expected),
            "{args:?}: {expected:?} not in {err}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    assert!(
        proxy.log().is_empty(),
        "bad input reached AWS: {:?}",
        proxy.log()
    );
}

/// A BatchGetImage answer naming `manifest` as the tag's image, for bytes the emulator
/// will not store (it refuses a PutImage of invalid JSON, as ECR does).
fn answer(repo: &str, manifest: &str, media_type: &str) -> Fault {
    let body = json!({
        "images": [{
            "registryId": ACCOUNT,
            "repositoryName": repo,
            "imageId": {"imageDigest": sha256(manifest.as_bytes()), "imageTag": "v1"},
            "imageManifest": manifest,
            "imageManifestMediaType": media_type,
        }],
        "failures": [],
    });
    Fault::Respond {
        status: 200,
        body: body.to_string(),
    }
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

fn image_entry(digest: &str, arch: &str) -> Value {
    json!({"mediaType": OCI_MANIFEST, "digest": digest, "size": 723,
           "platform": {"os": "linux", "architecture": arch}})
}

enum Stored {
    /// Seeded in the emulator under the tag.
    Seeded(String, &'static str),
    /// Answered by the proxy for the first BatchGetImage.
    Answered(String, &'static str),
}

struct ManifestCase {
    name: &'static str,
    stored: Stored,
    exit: i32,
    problem: Option<&'static str>,
}

#[tokio::test]
async fn bad_manifests_are_problems_not_panics_and_nothing_is_written() {
    let amd = load_case("buildx-single");
    let child = amd.child("image-amd64.json").clone();
    let valid = amd.root.bytes.clone();
    let deep = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","annotations":{}1{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let thousand: Vec<Value> = (0..1000)
        .map(|i| image_entry(&format!("sha256:{i:064x}"), "amd64"))
        .collect();
    let duplicate_platforms = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        image_entry(&child.digest, "amd64"), image_entry(&format!("sha256:{}", "e".repeat(64)), "amd64")]});
    let invalid_digests = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        image_entry("sha256:not-hex", "amd64"), image_entry("sha256:abc", "arm64")]});
    let huge = {
        let mut m: Value = serde_json::from_str(&load_case("oci-manifest").root.bytes).unwrap();
        m["annotations"] = json!({"padding": "x".repeat(4 * 1024 * 1024 - 2048)});
        m.to_string()
    };
    let cases = vec![
        ManifestCase {
            name: "truncated",
            stored: Stored::Answered(valid[..valid.len() / 2].to_owned(), OCI_INDEX),
            exit: 1,
            problem: Some("unsupported-media-type"),
        },
        ManifestCase {
            name: "not JSON",
            stored: Stored::Answered("this is not a manifest".into(), OCI_MANIFEST),
            exit: 1,
            problem: Some("unsupported-media-type"),
        },
        ManifestCase {
            name: "JSON of the wrong shape",
            stored: Stored::Answered(r#"[{"schemaVersion":2}]"#.into(), OCI_MANIFEST),
            exit: 1,
            problem: Some("unsupported-media-type"),
        },
        ManifestCase {
            name: "manifest without config",
            stored: Stored::Answered(
                json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []}).to_string(),
                OCI_MANIFEST,
            ),
            exit: 1,
            problem: Some("unsupported-media-type"),
        },
        ManifestCase {
            name: "schemaVersion 3",
            stored: Stored::Answered(
                json!({"schemaVersion": 3, "mediaType": OCI_MANIFEST}).to_string(),
                OCI_MANIFEST,
            ),
            exit: 1,
            problem: Some("unsupported-media-type"),
        },
        ManifestCase {
            name: "unknown media type",
            stored: Stored::Answered(
                json!({"schemaVersion": 2, "mediaType": "application/x-helm"}).to_string(),
                "application/x-helm",
            ),
            exit: 1,
            problem: Some("unsupported-media-type"),
        },
        ManifestCase {
            name: "deeply nested JSON",
            stored: Stored::Answered(deep, OCI_MANIFEST),
            exit: 1,
            problem: Some("unsupported-media-type"),
        },
        ManifestCase {
            name: "schema 1",
            stored: Stored::Seeded(
                load_case("schema1").root.bytes,
                "application/vnd.docker.distribution.manifest.v1+prettyjws",
            ),
            exit: 1,
            problem: Some("unsupported-media-type"),
        },
        ManifestCase {
            name: "an index of 1,000 entries",
            stored: Stored::Seeded(
                json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": thousand})
                    .to_string(),
                OCI_INDEX,
            ),
            exit: 1,
            problem: Some("ambiguous-platform"),
        },
        ManifestCase {
            name: "two manifests for one platform",
            stored: Stored::Seeded(duplicate_platforms.to_string(), OCI_INDEX),
            exit: 1,
            problem: Some("ambiguous-platform"),
        },
        ManifestCase {
            name: "entries with invalid digests",
            stored: Stored::Seeded(invalid_digests.to_string(), OCI_INDEX),
            exit: 1,
            problem: Some("no-runnable-platform"),
        },
        ManifestCase {
            name: "an empty index",
            stored: Stored::Seeded(
                json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}).to_string(),
                OCI_INDEX,
            ),
            exit: 1,
            problem: Some("no-runnable-platform"),
        },
        ManifestCase {
            name: "a 4 MiB manifest",
            stored: Stored::Seeded(huge, OCI_MANIFEST),
            exit: 0,
            problem: None,
        },
    ];

    for case in cases {
        let repo = unique("bad");
        create_repository(&repo, false).await;
        // What the tool reads here ECR would mostly refuse to store (indexes naming
        // manifests it lacks, a manifest naming blobs it lacks): the repository is
        // opted out of the emulator's refusal (FIDELITY.md E19).
        allow_missing(&repo);
        for (_, m) in &amd.children {
            put(&repo, None, m).await;
        }
        let proxy = proxy();
        match &case.stored {
            Stored::Seeded(bytes, media_type) => {
                let m = Manifest {
                    bytes: bytes.clone(),
                    digest: sha256(bytes.as_bytes()),
                    media_type: (*media_type).into(),
                };
                put(&repo, Some("v1"), &m).await;
            }
            Stored::Answered(bytes, media_type) => {
                proxy.on("BatchGetImage", Some(1), answer(&repo, bytes, media_type));
            }
        }
        let image = uri(&repo, ":v1");
        let out = run_at(&proxy.endpoint(), &["fix", &image, "--output", "json"]);
        let err = stderr(&out);
        assert_eq!(code(&out), case.exit, "{}: {err}", case.name);
        assert!(!err.contains("panicked"), "{}: {err}", case.name);
        let report = json(&out);
        let problems: Vec<&str> = report["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["code"].as_str().unwrap())
            .collect();
        match case.problem {
            Some(code) => assert!(problems.contains(&code), "{}: {problems:?}", case.name),
            None => assert!(problems.is_empty(), "{}: {problems:?}", case.name),
        }
        for problem in report["problems"].as_array().unwrap() {
            let message = problem["message"].as_str().unwrap();
            assert!(
                !message.contains('\n') && message.len() < 400,
                "{}: {message}",
                case.name
            );
        }
        let log = proxy.log();
        assert!(
            !log.iter().any(|op| WRITES.contains(&op.as_str())),
            "{}: {log:?}",
            case.name
        );
    }
}

#[tokio::test]
async fn an_unusual_but_valid_index_still_works() {
    // sha512 and unknown fields, annotations everywhere, an unknown platform entry.
    let amd = load_case("buildx-single");
    let child = amd.child("image-amd64.json").clone();
    let index = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "x-vendor": {"anything": [1, 2, 3]},
        "annotations": {"org.opencontainers.image.created": "2026-11-29T00:00:00Z"},
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": child.digest, "size": child.bytes.len(),
             "platform": {"os": "linux", "architecture": "amd64", "os.features": ["x"]},
             "annotations": {"com.example.note": "é"}, "x-extra": true},
            {"mediaType": "application/vnd.example.sbom+json",
             "digest": format!("sha512:{HEX}{HEX}"), "size": 12,
             "annotations": {"org.opencontainers.image.title": "sbom"}},
        ],
    })
    .to_string();
    let repo = unique("unusual");
    create_repository(&repo, false).await;
    // The sha512 entry names a manifest the repository cannot hold: ECR would refuse
    // the index (FIDELITY.md E19); the repository is opted out to store it.
    allow_missing(&repo);
    seed_manifest(&repo, None, &amd, "image-amd64.json").await;
    let root = Manifest {
        bytes: index.clone(),
        digest: sha256(index.as_bytes()),
        media_type: OCI_INDEX.into(),
    };
    put(&repo, Some("v1"), &root).await;

    let out = run(&["fix", &uri(&repo, ":v1"), "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["action"], "retagged");
    assert_eq!(roles(&report), ["image", "other"]);
    assert_tag(&repo, "v1", &child.digest).await;
}
