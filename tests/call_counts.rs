//! The fewest round trips: exact AWS call counts per command, counted by the proxy
//! (what went over the wire), and the `-v` tally agreeing with it. Counts, never times.

mod support;

use std::collections::BTreeMap;

use aws_sdk_lambda::types::Architecture;
use support::*;

/// A function whose updates end by the first status read, whatever the machine's
/// speed ("0 means it has ended by the next read", FIDELITY.md L1): one poll each.
fn quick(function: &str) {
    lambda_behaviour(function, serde_json::json!({"update_seconds": 0}));
}

fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    let mut all = BTreeMap::new();
    for (op, n) in pairs {
        *all.entry((*op).to_owned()).or_insert(0) += n;
    }
    all
}

#[tokio::test]
async fn each_command_makes_the_minimum_calls() {
    let (repo, function, _) = buildx_setup("buildx-single", "v1", Architecture::X8664).await;
    quick(&function);
    let proxy = proxy();
    let image = uri(&repo, ":v1");
    let endpoint = proxy.endpoint();

    let measure = |args: &[&str], expected: &[(&str, usize)]| {
        proxy.clear_log();
        let out = run_at(&endpoint, args);
        assert!(code(&out) <= 1, "{args:?}: {}", stderr(&out));
        assert_eq!(proxy.counts(), counts(expected), "{args:?}");
        out
    };

    // The reference, then the children by digest, then the target's config: its
    // URL, and the GET of it.
    const CONFIG: [(&str, usize); 2] = [("GetBlob", 1), ("GetDownloadUrlForLayer", 1)];
    let with_config = |pairs: &[(&'static str, usize)]| -> Vec<(&'static str, usize)> {
        pairs.iter().copied().chain(CONFIG).collect()
    };
    // check also reads the attestation's statement: its URL, asked together with the
    // config's, and its GET.
    measure(
        &["check", &image],
        &with_config(&[
            ("BatchGetImage", 2),
            ("GetDownloadUrlForLayer", 1),
            ("GetBlob", 1),
        ]),
    );
    // The function is read alongside.
    measure(
        &["check", &image, "--function", &function],
        &with_config(&[
            ("BatchGetImage", 2),
            ("GetDownloadUrlForLayer", 1),
            ("GetBlob", 1),
            ("GetFunction", 1),
        ]),
    );
    measure(
        &["fix", &image, "--dry-run"],
        &with_config(&[("BatchGetImage", 2)]),
    );
    // A new tag: nothing to guard. The attestation (linked only through the index)
    // is written again as a referrer of the image: one more PutImage.
    measure(
        &["fix", &image, "--tag", "v1-lambda"],
        &with_config(&[("BatchGetImage", 2), ("PutImage", 2)]),
    );
    // Moving the tag that was read: the guard re-read, then the write.
    let out = measure(
        &["fix", &image, "-v"],
        &with_config(&[("BatchGetImage", 3), ("PutImage", 2)]),
    );
    let tally = stderr(&out);
    assert!(
        tally.contains("7 AWS call(s)")
            && tally.contains("BatchGetImage 3, GetBlob 1, GetDownloadUrlForLayer 1, PutImage 2"),
        "-v tally: {tally}"
    );
    // Without the provenance: the tag alone.
    let (repo2, _, _) = buildx_setup("buildx-single", "v1", Architecture::X8664).await;
    measure(
        &["fix", &uri(&repo2, ":v1"), "--no-keep-provenance"],
        &with_config(&[("BatchGetImage", 3), ("PutImage", 1)]),
    );
    // Ready now: one read, no write.
    measure(&["fix", &image], &with_config(&[("BatchGetImage", 1)]));
}

#[tokio::test]
async fn deploy_makes_the_minimum_calls_and_a_second_deploy_only_reads() {
    let (repo, function, _) = buildx_setup("buildx-single", "v1", Architecture::X8664).await;
    quick(&function);
    // A round trip long enough that calls sent together are seen to overlap.
    let proxy = support::proxy::Proxy::start(moto().port, std::time::Duration::from_millis(40));
    let image = uri(&repo, ":v1");

    let out = run_at(
        &proxy.endpoint(),
        &["deploy", &image, "--function", &function],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // The emulator's update takes 1 s: one status read a second later sees it end.
    assert_eq!(
        proxy.counts(),
        counts(&[
            ("BatchGetImage", 3),
            ("GetBlob", 1),
            ("GetDownloadUrlForLayer", 1),
            ("GetFunction", 2),
            ("PutImage", 2),
            ("UpdateFunctionCode", 1)
        ])
    );
    // Which calls overlap (GetFunction with the first ECR read, the referrer's
    // PutImage with the guard read: a critical path of 8 round trips) is a matter of
    // timing, shown by the benchmark (bench/run.py prints the chain), not asserted here.

    proxy.clear_log();
    let out = run_at(
        &proxy.endpoint(),
        &["deploy", &image, "--function", &function],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        proxy.counts(),
        counts(&[
            ("BatchGetImage", 1),
            ("GetBlob", 1),
            ("GetDownloadUrlForLayer", 1),
            ("GetFunction", 1)
        ])
    );
}

#[tokio::test]
async fn release_paths_make_the_minimum_calls() {
    let (repo, function, _) = buildx_setup("buildx-single", "v1", Architecture::X8664).await;
    quick(&function);
    let proxy = proxy();
    let endpoint = proxy.endpoint();
    let image = uri(&repo, ":v1");
    let measure = |args: &[&str], expected: &[(&str, usize)]| {
        proxy.clear_log();
        let out = run_at(&endpoint, args);
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
        assert_eq!(proxy.counts(), counts(expected), "{args:?}");
    };
    let config = [("GetBlob", 1), ("GetDownloadUrlForLayer", 1)];
    let with = |pairs: &[(&'static str, usize)]| -> Vec<(&'static str, usize)> {
        pairs.iter().copied().chain(config).collect()
    };
    // The first release: the deploy's calls, the alias read, UpdateFunctionCode with
    // Publish (no PublishVersion), one status read, CreateAlias.
    measure(
        &["deploy", &image, "--function", &function, "--alias", "live"],
        &with(&[
            ("BatchGetImage", 3),
            ("CreateAlias", 1),
            ("GetAlias", 1),
            ("GetFunction", 2),
            ("PutImage", 2),
            ("UpdateFunctionCode", 1),
        ]),
    );
    // Again: the alias and its version read, nothing written.
    measure(
        &["deploy", &image, "--function", &function, "--alias", "live"],
        &with(&[("BatchGetImage", 1), ("GetAlias", 1), ("GetFunction", 2)]),
    );
    // A second release, of the base image, then a rollback of the alias: the
    // versions, the alias and $LATEST together; the version rolled back to and the
    // one left, together; its image's existence and status (DescribeImages); UpdateAlias.
    let base = uri(&repo, ":base");
    let out = run_at(
        &endpoint,
        &["deploy", &base, "--function", &function, "--alias", "live"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    measure(
        &["rollback", "--function", &function, "--alias", "live"],
        &[
            ("DescribeImages", 1),
            ("GetAlias", 1),
            ("GetFunction", 3),
            ("ListVersionsByFunction", 1),
            ("UpdateAlias", 1),
        ],
    );
}

/// `release status|promote|abort` on an alias carrying a weight: GetAlias, then the
/// two versions at once; promote and abort judge the alias's own version's image as
/// the way back (one DescribeImages, its image being tagged: no GetLifecyclePolicy),
/// then UpdateAlias. Before the way back was judged they made 4 calls each (GetAlias,
/// GetFunction 2, UpdateAlias), and the rollback 5 (no DescribeImages).
#[tokio::test]
async fn release_promote_and_abort_read_the_way_back_once() {
    let (repo, function, _) = buildx_setup("buildx-single", "v1", Architecture::X8664).await;
    quick(&function);
    for (image, extra) in [
        (":base", ["--alias", "live"].as_slice()),
        (":v1", &["--publish"]),
    ] {
        let out = deploy(&uri(&repo, image), &function, extra);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    let weigh = || weigh_alias(&function, "live", "1", "2", 0.1);
    let proxy = proxy();
    let endpoint = proxy.endpoint();
    for (action, judged) in [("status", false), ("promote", true), ("abort", true)] {
        weigh().await;
        proxy.clear_log();
        let out = run_at(
            &endpoint,
            &[
                "release",
                action,
                "--function",
                &function,
                "--alias",
                "live",
            ],
        );
        assert_eq!(code(&out), 0, "{action}: {}", stderr(&out));
        let mut expected = vec![("GetAlias", 1), ("GetFunction", 2)];
        if judged {
            expected.extend([("DescribeImages", 1), ("UpdateAlias", 1)]);
        }
        assert_eq!(proxy.counts(), counts(&expected), "{action}");
    }
    // `rollback --alias` of an alias mid-release is an abort, and judged as one.
    weigh().await;
    proxy.clear_log();
    let out = run_at(
        &endpoint,
        &["rollback", "--function", &function, "--alias", "live"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        proxy.counts(),
        counts(&[
            ("DescribeImages", 1),
            ("GetAlias", 1),
            ("GetFunction", 2),
            ("ListVersionsByFunction", 1),
            ("UpdateAlias", 1),
        ])
    );
}

/// A canary of 1 s with one alarm and a probe, from an alias at version 1: the
/// deploy's calls, then the release's own. (The bake's length sets the alarm reads:
/// one per 5 s slice, tests/release_boundary.rs.)
#[tokio::test]
async fn a_canary_makes_the_minimum_calls() {
    let (repo, function, _) = buildx_setup("buildx-single", "v1", Architecture::X8664).await;
    quick(&function);
    let out = deploy(&uri(&repo, ":base"), &function, &["--alias", "live"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let alarm_name = unique("errors");
    alarm(&alarm_name, "OK", "fine").await;
    let probe = scratch_path("probe");
    std::fs::write(&probe, b"{}").unwrap();
    let proxy = proxy();
    let out = run_at(
        &proxy.endpoint(),
        &[
            "deploy",
            &uri(&repo, ":v1"),
            "--function",
            &function,
            "--alias",
            "live",
            "--canary",
            "10",
            "--bake",
            "1s",
            "--alarm",
            &alarm_name,
            "--probe",
            probe.to_str().unwrap(),
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        proxy.counts(),
        counts(&[
            // The deploy: the image, fixed (guard re-read, referrer and tag).
            ("BatchGetImage", 3),
            ("PutImage", 2),
            ("GetBlob", 1),
            ("GetDownloadUrlForLayer", 1),
            // $LATEST, the alias's version, the update's one status read, the new
            // version's one read (no longer Pending).
            ("GetFunction", 4),
            ("GetAlias", 1),
            ("UpdateFunctionCode", 1),
            // Before anything is written, before the weight, and at the end of the
            // one 1 s slice of the bake.
            ("DescribeAlarms", 3),
            ("Invoke", 1),
            // The weight, then the promotion.
            ("UpdateAlias", 2),
            // The way back (the alias's version 1 image), read alongside (issue 21).
            ("DescribeImages", 1),
        ])
    );
}

#[tokio::test]
async fn several_functions_share_one_read_of_the_image() {
    let (repo, first, _) = buildx_setup("buildx-single", "v1", Architecture::X8664).await;
    quick(&first);
    let second = unique("fn");
    create_function(&second, &uri(&repo, ":base"), Architecture::X8664).await;
    quick(&second);
    let proxy = proxy();
    let out = deploy_all_at(
        &proxy.endpoint(),
        &uri(&repo, ":v1"),
        &[&first, &second],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // One deploy's reads and writes of the image, GetFunction and the update for each.
    assert_eq!(
        proxy.counts(),
        counts(&[
            ("BatchGetImage", 3),
            ("GetBlob", 1),
            ("GetDownloadUrlForLayer", 1),
            ("GetFunction", 4),
            ("PutImage", 2),
            ("UpdateFunctionCode", 2)
        ])
    );
    // That both functions are read and updated side by side is timing: the
    // benchmark shows it, not this test.
}

/// What reading the provenance adds (BENCHMARKS.md, "Provenance"): the statement's
/// URL and GET beside the config's; with a requirement, ListImageReferrers too (an
/// index's attestations may also be referrers of its image); with --require-signed,
/// DescribeImageSigningStatus; after fix, the referrer read by digest.
#[tokio::test]
async fn what_the_provenance_read_costs() {
    let (repo, function, case) = buildx_setup("provenance-index", "v1", Architecture::X8664).await;
    let proxy = proxy();
    let endpoint = proxy.endpoint();
    let image = uri(&repo, ":v1");
    let measure = |args: &[&str], expected: &[(&str, usize)]| {
        proxy.clear_log();
        let out = run_at(&endpoint, args);
        // check of an index is exit 1 (Lambda-ready only after fix); never a
        // provenance problem.
        assert!(code(&out) <= 1, "{args:?}: {}", stderr(&out));
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("provenance-"),
            "{args:?}"
        );
        assert_eq!(proxy.counts(), counts(expected), "{args:?}");
    };
    let pinned = [
        "--provenance-source",
        "https://github.com/example/lambda-fn",
        "--provenance-revision",
        "3f1c2a9e8b7d",
    ];
    // Shown, not required: config and statement, each a URL and a GET.
    measure(
        &["check", &image],
        &[
            ("BatchGetImage", 2),
            ("GetDownloadUrlForLayer", 2),
            ("GetBlob", 2),
        ],
    );
    let check_pinned: Vec<&str> = ["check", image.as_str()]
        .into_iter()
        .chain(pinned)
        .collect();
    measure(
        &check_pinned,
        &[
            ("BatchGetImage", 2),
            ("ListImageReferrers", 1),
            ("GetDownloadUrlForLayer", 2),
            ("GetBlob", 2),
        ],
    );
    emulator(
        "POST",
        "/_emulator/ecr/signing",
        serde_json::json!({"repository": repo, "digest": case.child("image-amd64.json").digest,
                           "answers": [[{"signingProfileArn": "arn:aws:signer:us-east-1:123456789012:/signing-profiles/ci", "status": "COMPLETE"}]]}),
    );
    let mut signed = check_pinned.clone();
    signed.push("--require-signed");
    measure(
        &signed,
        &[
            ("BatchGetImage", 2),
            ("ListImageReferrers", 1),
            ("GetDownloadUrlForLayer", 2),
            ("GetBlob", 2),
            ("DescribeImageSigningStatus", 1),
        ],
    );
    // A plain deploy does not read the provenance; a pinned one adds its reads.
    let mut deploy_pinned: Vec<&str> = vec!["deploy", &image, "--function", &function];
    deploy_pinned.extend(pinned);
    measure(
        &deploy_pinned,
        &[
            ("BatchGetImage", 3),
            ("ListImageReferrers", 1),
            ("GetDownloadUrlForLayer", 2),
            ("GetBlob", 2),
            ("GetFunction", 2),
            ("PutImage", 2),
            ("UpdateFunctionCode", 1),
        ],
    );
    // After the fix the tag names the image; its attestation is a referrer, read by
    // digest.
    measure(
        &check_pinned,
        &[
            ("BatchGetImage", 2),
            ("ListImageReferrers", 1),
            ("GetDownloadUrlForLayer", 2),
            ("GetBlob", 2),
        ],
    );
}

/// `retain` over two repositories, one with 105 images in use: one DescribeImages
/// per 100 digests per repository, one preview per repository (started once, read
/// until COMPLETE), one GetFunction per qualifier (issue 21, section 8).
#[tokio::test]
async fn retain_reads_each_repository_in_bounded_calls() {
    use support::retention::{publish, push_image};
    let policy = serde_json::json!({"rules": [{"rulePriority": 1, "selection": {"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1}, "action": {"type": "expire"}}]}).to_string();
    let mut functions = Vec::new();
    for (n, versions) in [(0, 105), (1, 2)] {
        let repo = unique("many");
        create_repository(&repo, false).await;
        ecr()
            .await
            .put_lifecycle_policy()
            .repository_name(&repo)
            .lifecycle_policy_text(&policy)
            .send()
            .await
            .unwrap();
        let function = unique("fn");
        quick(&function);
        let first = push_image(&repo, Some("v0"), &format!("{n}-0")).await;
        create_function(
            &function,
            &uri(&repo, &format!("@{first}")),
            Architecture::X8664,
        )
        .await;
        for v in 1..=versions {
            let digest = push_image(&repo, Some(&format!("v{v}")), &format!("{n}-{v}")).await;
            publish(&function, &repo, &digest).await;
        }
        functions.push(function);
    }
    let proxy = proxy();
    let out = run_at(
        &proxy.endpoint(),
        &[
            "retain",
            "--function",
            &functions[0],
            "--function",
            &functions[1],
            "--output",
            "json",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap();
    assert_eq!(report["images"].as_array().unwrap().len(), 105 + 2);
    let calls = proxy.counts();
    let preview_reads = calls.get("GetLifecyclePolicyPreview").copied().unwrap_or(0);
    assert_eq!(
        calls,
        counts(&[
            // 105 digests: 100 + 5; 2 digests: 1.
            ("DescribeImages", 3),
            ("GetLifecyclePolicy", 2),
            ("StartLifecyclePolicyPreview", 2),
            // The emulator answers IN_PROGRESS once after a start.
            ("GetLifecyclePolicyPreview", preview_reads.max(4)),
            // $LATEST and each version; versions and aliases listed (50 a page).
            ("GetFunction", 1 + 105 + 1 + 2),
            ("ListVersionsByFunction", 3 + 1),
            ("ListAliases", 2),
        ])
    );
    assert_eq!(
        preview_reads, 4,
        "one start and one read until COMPLETE per repository"
    );
}
