//! scan against moto at scale: 2,014 tags across 50 repositories (ready images,
//! buildx indexes, multi-platform indexes, unrunnable indexes), image functions in
//! every state, and `--fix`. Findings and call counts are asserted; calls are
//! counted by the proxy. This binary has its own moto server, so "every
//! repository" is exactly what it seeds.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_lambda::types::Architecture;
use serde_json::Value;
use support::*;

/// A variant of an index: the same entries, a different annotation, so every tag
/// names an index of its own (as separate builds would).
fn variant(index: &Manifest, n: usize) -> Manifest {
    let mut doc: Value = serde_json::from_str(&index.bytes).unwrap();
    doc["annotations"] = serde_json::json!({"org.opencontainers.image.revision": n.to_string()});
    let bytes = serde_json::to_string(&doc).unwrap();
    Manifest {
        digest: sha256(bytes.as_bytes()),
        bytes,
        media_type: index.media_type.clone(),
    }
}

struct Layout {
    singles: usize,
    ready: usize,
    multis: usize,
    unrunnable: usize,
}

/// Seeds a repository: children first, then every tag, 8 puts in flight.
async fn seed_repository(repo: &str, layout: &Layout, counter: &mut usize) {
    create_repository(repo, false).await;
    let single = load_case("buildx-single");
    let multi = load_case("buildx-multi");
    let windows = load_case("windows");
    let attestations = load_case("attestations-only");
    let docker = load_case("docker-v2");
    let ready = docker.root.clone();
    // The blobs, as buildx pushes them before the manifests.
    for case in [&single, &multi, &windows, &attestations, &docker] {
        for blob in &case.blobs {
            upload_blob(repo, &blob.bytes).await;
        }
    }
    let mut puts: Vec<(Option<String>, Manifest)> = Vec::new();
    for case in [&single, &multi, &windows, &attestations] {
        for (_, child) in &case.children {
            puts.push((None, child.clone()));
        }
    }
    for i in 0..layout.singles {
        *counter += 1;
        puts.push((Some(format!("s-{i}")), variant(&single.root, *counter)));
    }
    for i in 0..layout.multis {
        *counter += 1;
        puts.push((Some(format!("m-{i}")), variant(&multi.root, *counter)));
    }
    for i in 0..layout.unrunnable {
        let case = if i % 2 == 0 { &windows } else { &attestations };
        *counter += 1;
        puts.push((Some(format!("u-{i}")), variant(&case.root, *counter)));
    }
    for i in 0..layout.ready {
        puts.push((Some(format!("r-{i}")), ready.clone()));
    }
    // Children must exist before the indexes that name them (as buildx pushes).
    let children: Vec<_> = puts.iter().filter(|(t, _)| t.is_none()).cloned().collect();
    for (_, child) in children {
        put(repo, None, &child).await;
    }
    let tagged: Vec<_> = puts.into_iter().filter(|(t, _)| t.is_some()).collect();
    let repo = Arc::new(repo.to_owned());
    for chunk in tagged.chunks(8) {
        let mut set = tokio::task::JoinSet::new();
        for (tag, manifest) in chunk {
            let (repo, tag, manifest) = (repo.clone(), tag.clone(), manifest.clone());
            set.spawn(async move { put(&repo, tag.as_deref(), &manifest).await });
        }
        while let Some(done) = set.join_next().await {
            done.unwrap();
        }
    }
}

fn count_kind(findings: &[Value], kind: &str) -> usize {
    findings.iter().filter(|f| f["kind"] == kind).count()
}

#[tokio::test]
async fn scan_of_2014_tags_across_50_repositories() {
    let mut counter = 0;
    let big = Layout {
        singles: 150,
        ready: 50,
        multis: 50,
        unrunnable: 0,
    };
    let small = Layout {
        singles: 12,
        ready: 12,
        multis: 8,
        unrunnable: 4,
    };
    let repos: Vec<String> = (0..50).map(|i| format!("scan-{i:02}")).collect();
    seed_repository(&repos[0], &big, &mut counter).await;
    for repo in &repos[1..] {
        seed_repository(repo, &small, &mut counter).await;
    }
    let tags: usize = 250 + 49 * 36;
    assert_eq!(tags, 2014);

    // Functions: one fine, one whose image was deleted, one whose tag was turned into
    // an index since, one arm64 function whose tag now only has linux/amd64, and one
    // arm64 function running a single linux/amd64 manifest (only its config says so).
    let fns = "scan-fns";
    create_repository(fns, false).await;
    let (docker, oci_case) = (load_case("docker-v2"), load_case("oci-manifest"));
    let oci = oci_case.root.clone();
    for tag in ["ok", "later", "arm", "plain"] {
        seed_manifest(fns, Some(tag), &docker, "root.json").await;
    }
    seed_manifest(fns, Some("gone"), &oci_case, "root.json").await;
    create_function("fn-ok", &uri(fns, ":ok"), Architecture::X8664).await;
    create_function("fn-deleted", &uri(fns, ":gone"), Architecture::X8664).await;
    create_function("fn-later", &uri(fns, ":later"), Architecture::X8664).await;
    create_function("fn-arm", &uri(fns, ":arm"), Architecture::Arm64).await;
    create_function("fn-plain-arm", &uri(fns, ":plain"), Architecture::Arm64).await;
    ecr()
        .await
        .batch_delete_image()
        .repository_name(fns)
        .image_ids(
            aws_sdk_ecr::types::ImageIdentifier::builder()
                .image_digest(&oci.digest)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let single = load_case("buildx-single");
    for (file, _) in &single.children {
        seed_manifest(fns, None, &single, file).await;
    }
    put(fns, Some("later"), &variant(&single.root, 100_001)).await;
    put(fns, Some("arm"), &variant(&single.root, 100_002)).await;

    // The whole registry, as one JSON document.
    let proxy = proxy();
    let out = run_at(
        &proxy.endpoint(),
        &["scan", "--functions", "--output", "json"],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["repositories"], 51);
    assert_eq!(report["tags"], tags + 4);
    // 738 single-platform indexes and 442 multi-platform ones can be fixed (plus the
    // two tags of the functions' repository that became indexes).
    assert_eq!(report["fixable"], 738 + 442 + 2);
    assert_eq!(report["not_fixable"], 49 * 4);
    assert_eq!(report["ready"], 50 + 49 * 12 + 2);
    assert_eq!(report["functions"], 5);
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(count_kind(findings, "tag-not-ready"), 738 + 442 + 2 + 196);
    let by_function: BTreeMap<String, Vec<String>> = findings
        .iter()
        .filter(|f| f["function"].is_string())
        .fold(BTreeMap::new(), |mut m, f| {
            m.entry(f["function"].as_str().unwrap().to_owned())
                .or_default()
                .push(f["kind"].as_str().unwrap().to_owned());
            m
        });
    assert_eq!(by_function.get("fn-ok"), None);
    assert_eq!(by_function["fn-deleted"], ["function-image-deleted"]);
    assert_eq!(by_function["fn-later"], ["function-tag-not-ready"]);
    assert_eq!(
        by_function["fn-arm"],
        ["function-tag-not-ready", "function-architecture-mismatch"]
    );
    assert_eq!(
        by_function["fn-plain-arm"],
        ["function-architecture-mismatch"]
    );
    let multi = findings
        .iter()
        .find(|f| f["repository"] == "scan-01" && f["tag"] == "m-0")
        .unwrap();
    assert_eq!(
        multi["fix_writes"],
        serde_json::json!(["m-0-amd64", "m-0-arm64"])
    );

    // Calls: per repository its DescribeImages pages, then the indexes and their
    // children by digest, 100 to a call; nothing read twice.
    let calls = proxy.counts();
    let indexes_per_repo = |l: &Layout| l.singles + l.multis + l.unrunnable;
    let batches = |n: usize| n.div_ceil(100);
    let expected_batch_gets = batches(indexes_per_repo(&big)) + 1 // scan-00: indexes, children
        + 49 * (batches(indexes_per_repo(&small)) + 1) // the others
        + 2 // scan-fns: its two indexes, their child
        + 1; // the functions' running digests, one repository
    assert_eq!(calls["BatchGetImage"], expected_batch_gets, "{calls:?}");
    // DescribeImages answers 100 images a page, as ECR does by default.
    let pages = |l: &Layout| (l.singles + l.ready + l.multis + l.unrunnable).div_ceil(100);
    assert_eq!(pages(&big), 3);
    assert_eq!(
        calls["DescribeImages"],
        // + 1: the running digests BatchGetImage did not return, archived or gone
        // (issue 21: image-archived or function-image-deleted).
        pages(&big) + 49 * pages(&small) + 1 + 1,
        "{calls:?}"
    );
    assert_eq!(calls["DescribeRepositories"], 1, "{calls:?}");
    assert_eq!(calls["ListFunctions"], 1, "{calls:?}");
    assert_eq!(calls["GetFunction"], 5, "{calls:?}");
    // The four functions whose image exists run the same one: its config is read once.
    assert_eq!(calls["GetDownloadUrlForLayer"], 1, "{calls:?}");
    assert_eq!(calls["GetBlob"], 1, "{calls:?}");
    assert!(!calls.contains_key("PutImage"));

    // jsonl: one object per finding, then the summary.
    let out = run_at(
        &proxy.endpoint(),
        &["scan", "--repository", "scan-01", "--output", "jsonl"],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 12 + 8 + 4 + 1);
    assert_eq!(lines.last().unwrap()["kind"], "summary");

    // --fix on one repository: every fixable tag, multi-platform ones as TAG-ARCH.
    proxy.clear_log();
    let out = run_at(
        &proxy.endpoint(),
        &[
            "scan",
            "--repository",
            "scan-01",
            "--fix",
            "--yes",
            "--output",
            "json",
        ],
    );
    // The four unrunnable tags still stand.
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["fixed"].as_array().unwrap().len(), 12 + 8 * 2);
    assert_eq!(report["remaining"], 4);
    assert!(stderr(&out).contains("scan --fix would write 28 tag(s)"));
    let calls = proxy.counts();
    // Each tag, and before it the referrer that keeps its image's attestation (the
    // classic layout links it only through the index), as `fix` does.
    assert_eq!(calls["PutImage"], 28 + 28, "{calls:?}");
    let fixed = report["fixed"].as_array().unwrap();
    let single_write = fixed.iter().find(|w| w["tag"] == "s-0").unwrap();
    let referrer = single_write["provenance_written"][0].as_str().unwrap();
    let stored: Value = serde_json::from_str(&manifest_bytes("scan-01", referrer).await).unwrap();
    assert_eq!(
        stored["subject"]["digest"],
        single.child("image-amd64.json").digest.as_str()
    );
    // Two reads, then one guard read per tag moved in place.
    assert_eq!(calls["BatchGetImage"], 2 + 12, "{calls:?}");
    // Each of the three images written has its config read once, before any write.
    assert_eq!(calls["GetDownloadUrlForLayer"], 3, "{calls:?}");
    assert_eq!(calls["GetBlob"], 3, "{calls:?}");
    let target = single.child("image-amd64.json");
    assert_tag("scan-01", "s-0", &target.digest).await;
    let multi_amd = load_case("buildx-multi");
    assert_tag(
        "scan-01",
        "m-3-arm64",
        &multi_amd.child("image-arm64.json").digest,
    )
    .await;

    // A rescan finds only what fix cannot help.
    let out = run_at(
        &proxy.endpoint(),
        &["scan", "--repository", "scan-01", "--output", "json"],
    );
    assert_eq!(code(&out), 1);
    let report = json(&out);
    assert_eq!(report["fixable"], 0);
    assert_eq!(report["not_fixable"], 4);

    // Without --yes and without a terminal to ask on, --fix refuses before any call.
    proxy.clear_log();
    let out = run_at(&proxy.endpoint(), &["scan", "--fix"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(proxy.log().is_empty());
}
