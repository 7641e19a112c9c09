//! The book's IAM policy (docs/src/reference/iam.md) against what the tool really calls:
//! every command path runs through a proxy that records each request's IAM action and
//! resource ARN, and each must be allowed by the policy as the book prints it; and the
//! policy allows no action that no path calls. The README's minimal deploy policy is
//! enough for a deploy, and allows nothing the full policy does not.

mod support;

use std::collections::BTreeSet;

use aws_sdk_lambda::types::Architecture;
use serde_json::Value;
use support::proxy::{Access, Proxy};
use support::*;

/// The first JSON block after `heading` in a Markdown file of the repository.
fn policy_after(file: &str, heading: &str) -> Value {
    let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file))
        .unwrap();
    let section = &text[text
        .find(heading)
        .unwrap_or_else(|| panic!("{file}: no {heading}"))..];
    let start = section.find("```json\n").expect("a policy") + "```json\n".len();
    let end = start + section[start..].find("```").unwrap();
    serde_json::from_str(&section[start..end])
        .unwrap_or_else(|e| panic!("{file}: the policy after {heading} is not JSON: {e}"))
}

/// The full policy of the book's IAM page.
fn readme_policy() -> Value {
    policy_after("docs/src/reference/iam.md", "## The full policy")
}

/// The minimal deploy policy, as the README shows it (the book shows the same).
fn minimal_policy() -> Value {
    let readme = policy_after("README.md", "## The minimal deploy policy");
    let book = policy_after("docs/src/reference/iam.md", "## The minimal deploy policy");
    assert_eq!(
        readme, book,
        "the README and the book show one minimal policy"
    );
    readme
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect(),
        _ => vec![],
    }
}

/// IAM's wildcard match: `*` any run of characters, `?` one.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The names the README's placeholders stand for in one run.
struct Names<'a> {
    region: &'a str,
    repository: &'a str,
    function: &'a str,
}

fn allowed(policy: &Value, names: &Names, access: &Access) -> bool {
    policy["Statement"].as_array().unwrap().iter().any(|s| {
        s["Effect"] == "Allow"
            && strings(&s["Action"]).contains(&access.action)
            && strings(&s["Resource"]).iter().any(|r| {
                let r = r
                    .replace("REGION", names.region)
                    .replace("ACCOUNT", ACCOUNT)
                    .replace("REPOSITORY", names.repository)
                    .replace("FUNCTION", names.function);
                glob(&r, &access.resource)
            })
    })
}

/// Runs `args` through a fresh proxy; every access must be allowed. The actions used.
fn check(policy: &Value, names: &Names, args: &[&str]) -> BTreeSet<String> {
    checked(policy, names, args)
        .into_iter()
        .map(|a| a.action)
        .collect()
}

/// [`check`], with every access (action and resource) it recorded.
fn checked(policy: &Value, names: &Names, args: &[&str]) -> Vec<Access> {
    let proxy = Proxy::start(moto().port, std::time::Duration::ZERO);
    let out = run_at(&proxy.endpoint(), args);
    assert!(
        code(&out) <= 1,
        "{args:?}: exit {}: {}{}",
        code(&out),
        stderr(&out),
        String::from_utf8_lossy(&out.stdout)
    );
    let accesses = proxy.accesses();
    assert!(!accesses.is_empty(), "{args:?}: no call recorded");
    for access in &accesses {
        assert!(
            allowed(policy, names, access),
            "{args:?}: the book's policy does not allow {} on {}",
            access.action,
            access.resource
        );
    }
    accesses
}

/// Puts a release under way on alias `live`: 10 % to another published version.
async fn weigh(function: &str) {
    let lambda = lambda().await;
    let alias = lambda
        .get_alias()
        .function_name(function)
        .name("live")
        .send()
        .await
        .unwrap();
    let current = alias.function_version().unwrap().to_owned();
    let versions = lambda
        .list_versions_by_function()
        .function_name(function)
        .send()
        .await
        .unwrap();
    let other = versions
        .versions()
        .iter()
        .filter_map(|v| v.version())
        .find(|v| *v != "$LATEST" && *v != current)
        .expect("another published version")
        .to_owned();
    lambda
        .update_alias()
        .function_name(function)
        .name("live")
        .routing_config(
            aws_sdk_lambda::types::AliasRoutingConfiguration::builder()
                .additional_version_weights(&other, 0.1)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// The resources of `action` among `accesses`.
fn resources(accesses: &[Access], action: &str) -> Vec<String> {
    accesses
        .iter()
        .filter(|a| a.action == action)
        .map(|a| a.resource.clone())
        .collect()
}

#[tokio::test]
async fn every_call_of_every_command_path_is_allowed_by_the_readmes_policy() {
    let policy = readme_policy();
    let (repo, function, _) = buildx_setup("buildx-single", "v1", Architecture::X8664).await;
    lambda_behaviour(&function, serde_json::json!({"update_seconds": 0}));
    let names = Names {
        region: REGION,
        repository: &repo,
        function: &function,
    };
    let alarm_name = unique("errors");
    alarm(&alarm_name, "OK", "fine").await;
    let probe = scratch_path("probe");
    std::fs::write(&probe, b"{}").unwrap();
    let (v1, base) = (uri(&repo, ":v1"), uri(&repo, ":base"));
    let mut used = BTreeSet::new();
    let paths: Vec<Vec<&str>> = vec![
        vec!["check", &v1, "--function", &function],
        vec!["check", &base],
        // Provenance and ECR's signing status, asked for (exit 1 here: the fixture's
        // statement is not a real one, and nothing is signed).
        vec![
            "check",
            &v1,
            "--provenance-source",
            "https://github.com/org/repo",
            "--require-signed",
            "--wait-timeout",
            "1",
        ],
        vec!["fix", &v1, "--tag", "v1-fixed"],
        vec!["deploy", &v1, "--function", &function],
        // $LATEST runs v1, no version holds it: PublishVersion, then CreateAlias.
        vec!["deploy", &v1, "--function", &function, "--alias", "live"],
        vec![
            "deploy",
            &base,
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
        vec!["rollback", "--function", &function, "--alias", "live"],
        vec!["rollback", "--function", &function],
        vec![
            "release",
            "status",
            "--function",
            &function,
            "--alias",
            "live",
        ],
        vec!["scan", "--repository", &repo],
    ];
    for args in &paths {
        let accesses = checked(&policy, &names, args);
        // The release's alarms are read by name: each read is recorded on the
        // alarm's ARN (the README's `*` covers them; composite alarms need it).
        if args.contains(&"--canary") {
            let alarms = resources(&accesses, "cloudwatch:DescribeAlarms");
            assert!(!alarms.is_empty());
            let arn = format!("arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{alarm_name}");
            assert!(alarms.iter().all(|r| *r == arn), "{alarms:?}");
        }
        used.extend(accesses.into_iter().map(|a| a.action));
    }
    // promote and abort, each on an alias that really carries a weight: they write
    // the alias (UpdateAlias on its ARN) and read its versions.
    for action in ["promote", "abort"] {
        weigh(&function).await;
        let accesses = checked(
            &policy,
            &names,
            &[
                "release",
                action,
                "--function",
                &function,
                "--alias",
                "live",
            ],
        );
        let live = format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}:live");
        assert_eq!(
            resources(&accesses, "lambda:UpdateAlias"),
            vec![live.clone()],
            "{action}"
        );
        assert_eq!(
            resources(&accesses, "lambda:GetAlias"),
            vec![live],
            "{action}"
        );
        let versions = resources(&accesses, "lambda:GetFunction");
        assert_eq!(versions.len(), 2, "{action}: {versions:?}");
        assert!(
            versions.iter().all(|r| r.starts_with(&format!(
                "arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}:"
            ))),
            "{action}: {versions:?}"
        );
        used.extend(accesses.into_iter().map(|a| a.action));
    }

    // Keeping the way back (issue 21): a repository with a policy, a function with
    // three versions and an alias, then retain's, restore's and prune's writes.
    {
        use support::retention::{publish, push_image};
        let (repo, function) = (unique("keep"), unique("fn-keep"));
        create_repository(&repo, false).await;
        lambda_behaviour(&function, serde_json::json!({"update_seconds": 0}));
        ecr()
            .await
            .put_lifecycle_policy()
            .repository_name(&repo)
            .lifecycle_policy_text(
                serde_json::json!({"rules": [{"rulePriority": 1, "selection": {"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1}, "action": {"type": "expire"}}]}).to_string(),
            )
            .send()
            .await
            .unwrap();
        let mut digests = Vec::new();
        for n in 1..=3 {
            digests.push(push_image(&repo, Some(&format!("v{n}")), &n.to_string()).await);
        }
        create_function(&function, &uri(&repo, ":v1"), Architecture::X8664).await;
        for d in &digests {
            publish(&function, &repo, d).await;
        }
        lambda()
            .await
            .create_alias()
            .function_name(&function)
            .name("live")
            .function_version("3")
            .send()
            .await
            .unwrap();
        let names = Names {
            region: REGION,
            repository: &repo,
            function: &function,
        };
        used.extend(check(
            &policy,
            &names,
            &["retain", "--function", &function, "--protect-policy"],
        ));
        ecr()
            .await
            .update_image_storage_class()
            .repository_name(&repo)
            .image_id(
                aws_sdk_ecr::types::ImageIdentifier::builder()
                    .image_digest(&digests[1])
                    .build(),
            )
            .target_storage_class(aws_sdk_ecr::types::TargetStorageClass::Archive)
            .send()
            .await
            .unwrap();
        used.extend(check(
            &policy,
            &names,
            &["retain", "--function", &function, "--restore", "--no-wait"],
        ));
        used.extend(check(
            &policy,
            &names,
            &[
                "prune",
                "--function",
                &function,
                "--keep",
                "0",
                "--release-tags",
            ],
        ));
    }

    // scan --functions reads every function of the region (ListFunctions on `*`, then
    // each image function): in a region of its own here, so that the functions of
    // other tests are not read.
    let region = "sa-east-1";
    let (scan_repo, scan_fn) = (unique("scan"), unique("fn-scan"));
    image_function_in(region, &scan_repo, &scan_fn).await;
    let names = Names {
        region,
        repository: &scan_repo,
        function: &scan_fn,
    };
    used.extend(check(
        &policy,
        &names,
        &["scan", "--region", region, "--functions"],
    ));

    // Least privilege: nothing in the policy that no path calls.
    let granted: BTreeSet<String> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| strings(&s["Action"]))
        .collect();
    let unused: Vec<&String> = granted.difference(&used).collect();
    assert!(
        unused.is_empty(),
        "the book's policy grants actions no command calls: {unused:?}"
    );
    let missing: Vec<&String> = used.difference(&granted).collect();
    assert!(missing.is_empty(), "{missing:?}");
}

/// The README's minimal policy is enough for `deploy` (an index fixed and deployed, then
/// the same deploy again), and grants nothing the full policy does not.
#[tokio::test]
async fn the_minimal_deploy_policy_is_enough_for_a_deploy_and_within_the_full_policy() {
    let (minimal, full) = (minimal_policy(), readme_policy());
    let (repo, function, _) = buildx_setup("buildx-single", "v1", Architecture::X8664).await;
    lambda_behaviour(&function, serde_json::json!({"update_seconds": 0}));
    let names = Names {
        region: REGION,
        repository: &repo,
        function: &function,
    };
    let v1 = uri(&repo, ":v1");
    let mut used = BTreeSet::new();
    for _ in 0..2 {
        used.extend(check(
            &minimal,
            &names,
            &["deploy", &v1, "--function", &function],
        ));
    }
    assert!(used.contains("lambda:UpdateFunctionCode"), "{used:?}");
    for statement in minimal["Statement"].as_array().unwrap() {
        for action in strings(&statement["Action"]) {
            for resource in strings(&statement["Resource"]) {
                let access = Access {
                    action: action.clone(),
                    resource: resource
                        .replace("REGION", names.region)
                        .replace("ACCOUNT", ACCOUNT)
                        .replace("REPOSITORY", names.repository)
                        .replace("FUNCTION", names.function),
                };
                assert!(
                    allowed(&full, &names, &access),
                    "the minimal policy grants {action} on {resource}, the full one does not"
                );
            }
        }
    }
    let granted: BTreeSet<String> = minimal["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| strings(&s["Action"]))
        .collect();
    let unused: Vec<&String> = granted.difference(&used).collect();
    assert!(
        unused.is_empty(),
        "the minimal policy grants what a deploy does not call: {unused:?}"
    );
}

#[test]
fn iam_wildcards_match_as_iam_does() {
    assert!(glob(
        "arn:aws:lambda:r:a:function:f:*",
        "arn:aws:lambda:r:a:function:f:3"
    ));
    assert!(!glob(
        "arn:aws:lambda:r:a:function:f",
        "arn:aws:lambda:r:a:function:f:3"
    ));
    assert!(glob("*", "anything"));
    assert!(!glob(
        "arn:aws:ecr:r:a:repository/app",
        "arn:aws:ecr:r:a:repository/app2"
    ));
}
