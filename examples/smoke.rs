//! Smoke run of the library against a real AWS account; CI runs it against the local
//! emulator (`tests/smoke.rs`) so that it cannot rot.
//!
//! ```text
//! cargo run --example smoke -- [--region R] [--profile P] [--endpoint-url URL] \
//!     (--function NAME | --role-arn ARN) [--keep]
//! ```
//!
//! It creates an ECR repository `ecr-lambda-smoke-<random>` and pushes a tiny image
//! the way `docker buildx build --push` does (config and layer blobs, the image
//! manifest, a classic in-toto attestation manifest, and an OCI index naming both,
//! under tag `v1`). Then, through the library API: `check` (not ready, fixable),
//! `fix` (v1 names the image, the attestation is kept as a referrer), `check` (ready,
//! config read, provenance a referrer) and `deploy`; then plain SDK calls verify what
//! ECR and Lambda say. One line per check, `ok   <what>` or `FAIL <what>: <why>`; the
//! exit code is 1 if any failed (2: nothing was created). Then what the documentation
//! leaves open is observed (`seen <name>: <json>`): a second untagged PutImage of a
//! manifest ECR holds, `CodeSha256` against the image digest, which image GetFunction
//! shows while a real update runs; and, with a temporary function, `deploy --alias`
//! twice and `rollback --alias`, then a 1 s canary gated by an alarm the run creates
//! (the routing weight GetAlias shows while it bakes, DescribeAlarms over CBOR) and
//! one Invoke of the alias. Last, questions no public record settles
//! (`smoke/open_questions.rs`): whether ECR takes a manifest whose blobs were never
//! uploaded, DescribeImages with `imageIds` and a status filter together, and (with a
//! temporary function) what Lambda says to `PublishTo: LATEST_PUBLISHED` on an
//! ordinary function and to a container image function on Lambda Managed Instances.
//! `--json FILE` writes every check and observation.
//!
//! `--role-arn ARN`: a temporary x86_64 function is created with that execution role
//! (from a second image, tag `base`, so that the deploy is a real code update).
//! `--function NAME`: your container image function is deployed to instead, and not
//! deleted: it is left running the smoke image, whose repository is deleted, so
//! redeploy your own image afterwards (the run prints the one it ran before).
//!
//! Everything the run created is deleted at the end, also after a failure, unless
//! `--keep`. The image's filesystem is empty: the one Invoke (temporary function
//! only) is recorded, whatever the function's error, not judged.

use std::fmt::Display;
use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, Instant};

use aws_sdk_ecr::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_ecr::types::{ImageIdentifier, ImageTagMutability, SubjectIdentifier};
use aws_sdk_lambda::types::{Architecture, FunctionCode, PackageType};
use clap::{ArgGroup, Parser};
use serde_json::{Value, json};

// In a folder of its own, so that cargo does not take it for another example.
#[path = "smoke/open_questions.rs"]
mod open_questions;
use sha2::{Digest as _, Sha256};

use ecr_lambda::calls::CallStats;
use ecr_lambda::config::{self, AwsOptions, Regions};
use ecr_lambda::lambda::FunctionRef;
use ecr_lambda::manifest::provenance::Link;
use ecr_lambda::ops::Gradual;
use ecr_lambda::output::{Action, UpdateStatus};
use ecr_lambda::reference::{ImageRef, Registry, Selector};
use ecr_lambda::strategy::{Strategy, Weight};
use ecr_lambda::{CheckRequest, Clients, DeployRequest, ExitCode, FixRequest};

const SLSA_V02: &str = "https://slsa.dev/provenance/v0.2";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

#[derive(Parser)]
#[command(group(ArgGroup::new("target").required(true).args(["function", "role_arn"])))]
struct Args {
    #[arg(long)]
    region: Option<String>,
    #[arg(long)]
    profile: Option<String>,
    #[arg(long)]
    endpoint_url: Option<String>,
    /// Deploy to this existing function (it is not deleted).
    #[arg(long)]
    function: Option<String>,
    /// Create a temporary function with this execution role.
    #[arg(long)]
    role_arn: Option<String>,
    /// Delete nothing at the end.
    #[arg(long)]
    keep: bool,
    /// Write every check and observation to this file as JSON (to send back: it says
    /// how this account's ECR and Lambda behaved where the documentation is silent).
    #[arg(long, value_name = "FILE")]
    json: Option<std::path::PathBuf>,
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn descriptor(media_type: &str, bytes: &[u8]) -> Value {
    json!({"mediaType": media_type, "digest": sha256(bytes), "size": bytes.len()})
}

/// An empty tar: its end marker, two zero blocks.
const EMPTY_TAR: [u8; 1024] = [0; 1024];

/// The empty tar gzipped by hand (the crate has no compressor): a gzip header, one
/// final stored deflate block (LEN 1024, NLEN), the CRC-32 of the data and its length.
fn empty_tar_gz() -> Vec<u8> {
    let mut gz = vec![
        0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 0x01, 0x00, 0x04, 0xff, 0xfb,
    ];
    gz.extend(EMPTY_TAR);
    gz.extend(0xefb5_af2e_u32.to_le_bytes()); // zlib.crc32(bytes(1024))
    gz.extend(1024_u32.to_le_bytes());
    gz
}

/// The images' one layer.
fn layer() -> Value {
    descriptor(
        "application/vnd.oci.image.layer.v1.tar+gzip",
        &empty_tar_gz(),
    )
}

/// An image config as BuildKit writes one; `cmd` tells the two images apart.
fn image_config(arch: &str, cmd: &str) -> Vec<u8> {
    let config = json!({"Entrypoint": ["/lambda-entrypoint.sh"], "Cmd": [cmd]});
    let rootfs = json!({"type": "layers", "diff_ids": [sha256(&EMPTY_TAR)]});
    let doc = json!({"architecture": arch, "os": "linux", "config": config, "rootfs": rootfs});
    doc.to_string().into_bytes()
}

/// An SDK error as AWS states it (code and message); else the whole chain (a dispatch
/// failure, say), which the SDK's own Display leaves out.
fn sdk<E>(what: &'static str) -> impl FnOnce(E) -> String
where
    E: std::error::Error + ProvideErrorMetadata,
{
    move |e| match (e.code(), e.message()) {
        (Some(code), message) => format!("{what}: {code}: {}", message.unwrap_or("-")),
        _ => format!("{what}: {}", DisplayErrorContext(e)),
    }
}

fn lib(what: &'static str) -> impl FnOnce(ecr_lambda::Error) -> String {
    move |e| match e.hint() {
        Some(hint) => format!("{what}: {e} (hint: {hint})"),
        None => format!("{what}: {e}"),
    }
}

/// Pushes to one repository through the APIs docker and buildx use.
struct Push<'a> {
    ecr: &'a aws_sdk_ecr::Client,
    repo: &'a str,
}

impl Push<'_> {
    /// A blob in one part: InitiateLayerUpload, UploadLayerPart, CompleteLayerUpload.
    async fn blob(&self, bytes: &[u8]) -> Result<(), String> {
        let upload = self.ecr.initiate_layer_upload().repository_name(self.repo);
        let upload = upload.send().await.map_err(sdk("InitiateLayerUpload"))?;
        let id = upload.upload_id.unwrap_or_default();
        self.ecr
            .upload_layer_part()
            .repository_name(self.repo)
            .upload_id(&id)
            .part_first_byte(0)
            .part_last_byte(bytes.len() as i64 - 1)
            .layer_part_blob(bytes.to_vec().into())
            .send()
            .await
            .map_err(sdk("UploadLayerPart"))?;
        self.ecr
            .complete_layer_upload()
            .repository_name(self.repo)
            .upload_id(&id)
            .layer_digests(sha256(bytes))
            .send()
            .await
            .map_err(sdk("CompleteLayerUpload"))?;
        Ok(())
    }

    /// PutImage of the manifest's exact bytes, with their digest for ECR to check:
    /// its descriptor, as an index names it.
    async fn manifest(&self, tag: Option<&str>, manifest: Value) -> Result<Value, String> {
        let bytes = manifest.to_string();
        let media_type = manifest["mediaType"].as_str().unwrap_or(OCI_MANIFEST);
        let descriptor = descriptor(media_type, bytes.as_bytes());
        self.ecr
            .put_image()
            .repository_name(self.repo)
            .image_manifest(bytes)
            .image_manifest_media_type(media_type)
            .image_digest(descriptor["digest"].as_str().unwrap_or_default())
            .set_image_tag(tag.map(str::to_owned))
            .send()
            .await
            .map_err(sdk("PutImage"))?;
        Ok(descriptor)
    }

    /// An image manifest after its config blob (the layers are pushed already).
    async fn image(
        &self,
        tag: Option<&str>,
        config: &[u8],
        layers: Value,
    ) -> Result<Value, String> {
        self.blob(config).await?;
        let config = descriptor(OCI_CONFIG, config);
        let doc = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config,
                         "layers": layers});
        self.manifest(tag, doc).await
    }

    /// What `buildx build --push` pushes with its default provenance (mode=min): the
    /// image, its attestation in BuildKit's classic layout, and the OCI index naming
    /// both under `v1`. The image manifest's digest.
    async fn buildx(&self, arch: &str) -> Result<String, String> {
        self.blob(&empty_tar_gz()).await?;
        let config = image_config(arch, "app.handler");
        let mut image = self.image(None, &config, json!([layer()])).await?;
        let digest = image["digest"].as_str().unwrap_or_default().to_owned();

        let subject = json!({"name": self.repo, "digest": {"sha256": &digest["sha256:".len()..]}});
        let predicate = json!({"buildType": "https://mobyproject.org/buildkit@v1"});
        let statement = json!({"_type": "https://in-toto.io/Statement/v0.1",
            "predicateType": SLSA_V02, "subject": [subject], "predicate": predicate});
        let statement = statement.to_string().into_bytes();
        self.blob(&statement).await?;
        let mut in_toto = descriptor("application/vnd.in-toto+json", &statement);
        in_toto["annotations"] = json!({"in-toto.io/predicate-type": SLSA_V02});
        let rootfs = json!({"type": "layers", "diff_ids": [sha256(&statement)]});
        let config = json!({"architecture": "unknown", "os": "unknown", "rootfs": rootfs});
        let config = config.to_string().into_bytes();
        let mut attestation = self.image(None, &config, json!([in_toto])).await?;

        image["platform"] = json!({"architecture": arch, "os": "linux"});
        attestation["platform"] = json!({"architecture": "unknown", "os": "unknown"});
        attestation["annotations"] = json!({"vnd.docker.reference.type": "attestation-manifest",
                                            "vnd.docker.reference.digest": &digest});
        let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                           "manifests": [image, attestation]});
        self.manifest(Some("v1"), index).await?;
        Ok(digest)
    }
}

struct Smoke {
    clients: Clients,
    repo: String,
    function: FunctionRef,
    /// The function's architecture as images name it (`amd64`, `arm64`).
    arch: &'static str,
    /// Set when the function is to be created.
    role_arn: Option<String>,
    /// What was created, so that cleanup deletes exactly that.
    created_repo: bool,
    created_function: bool,
    /// Deploy was called: the function may run the smoke image.
    deployed: bool,
    /// The canary's alarm, created by the run (deleted with the rest).
    created_alarm: Option<String>,
    failed: usize,
    /// Every check, in order: what, and why it failed.
    checks: Vec<Value>,
    /// What AWS did where the documentation is silent (FIDELITY.md's uncertain rows).
    observations: serde_json::Map<String, Value>,
}

impl Smoke {
    fn check(&mut self, what: &str, result: Result<(), String>) {
        match &result {
            Ok(()) => println!("ok   {what}"),
            Err(why) => {
                self.failed += 1;
                println!("FAIL {what}: {why}");
            }
        }
        self.checks
            .push(json!({"what": what, "ok": result.is_ok(), "why": result.err()}));
    }

    /// What AWS did, recorded, not judged.
    fn observe(&mut self, name: &str, value: Value) {
        println!("seen {name}: {value}");
        self.observations.insert(name.to_owned(), value);
    }

    /// A check of a library report; the report is printed (indented) when it fails.
    fn check_report(&mut self, what: &str, ok: bool, why: String, report: &impl Display) {
        let report = report.to_string().trim_end().replace('\n', "\n       ");
        let result = if ok {
            Ok(())
        } else {
            Err(format!("{why}\n       {report}"))
        };
        self.check(what, result);
    }
}

fn expect(ok: bool, why: impl FnOnce() -> String) -> Result<(), String> {
    if ok { Ok(()) } else { Err(why()) }
}

/// Steps 1 to 4. An `Err` is a step the run could not go past.
async fn run(s: &mut Smoke) -> Result<(), String> {
    let (ecr, repo) = (s.clients.ecr.clone(), s.repo.clone());
    let created = ecr
        .create_repository()
        .repository_name(&s.repo)
        .image_tag_mutability(ImageTagMutability::Mutable)
        .send()
        .await
        .map_err(sdk("CreateRepository"))?;
    s.created_repo = true;
    let created = created
        .repository
        .ok_or("CreateRepository described no repository")?;
    let push = Push {
        ecr: &ecr,
        repo: &repo,
    };
    let image = push.buildx(s.arch).await?;
    println!("     pushed {}:v1 as buildx does ({image})", s.repo);

    if let Some(role) = s.role_arn.clone() {
        // From another image, so that the deploy is a real code update; created now so
        // that Lambda's Pending overlaps with check and fix (deploy waits for Active).
        let config = image_config(s.arch, "base.handler");
        let base = push.image(Some("base"), &config, json!([layer()])).await?;
        let uri = created.repository_uri().unwrap_or_default();
        let uri = format!("{uri}@{}", base["digest"].as_str().unwrap_or_default());
        s.clients
            .lambda
            .create_function()
            .function_name(&s.function.id)
            .role(role)
            .package_type(PackageType::Image)
            .code(FunctionCode::builder().image_uri(uri).build())
            .architectures(Architecture::X8664)
            .send()
            .await
            .map_err(sdk("CreateFunction"))?;
        s.created_function = true;
        println!("     created function {} from tag base", s.function);
    }

    let registry = Registry {
        account: created.registry_id().unwrap_or_default().to_owned(),
        region: s.clients.ecr_region.clone(),
    };
    let image_ref = ImageRef {
        registry: Some(registry),
        repository: s.repo.clone(),
        selector: Selector::Tag("v1".into()),
    };
    let referrer = library(s, image_ref.clone(), &image).await?;
    verify(s, &image, &referrer).await?;
    observe(s, &push, &image, &created).await?;
    if s.created_function {
        release(s, image_ref).await?;
    }
    open_questions::observe(s, &image, created.repository_uri().unwrap_or_default()).await;
    Ok(())
}

/// Step 5: what the documentation leaves open, observed and written to `--json`: a
/// second untagged PutImage of a manifest ECR holds, whether `CodeSha256` is the image
/// digest's hex, and which image GetFunction shows while a real update runs.
async fn observe(
    s: &mut Smoke,
    push: &Push<'_>,
    image: &str,
    created: &aws_sdk_ecr::types::Repository,
) -> Result<(), String> {
    // The same manifest again, without a tag (ecr-lambda writes referrers so).
    let got = s
        .clients
        .ecr
        .batch_get_image()
        .repository_name(&s.repo)
        .image_ids(ImageIdentifier::builder().image_digest(image).build())
        .send()
        .await
        .map_err(sdk("BatchGetImage"))?;
    let manifest = got
        .images()
        .first()
        .and_then(|i| i.image_manifest())
        .unwrap_or_default()
        .to_owned();
    let again = push
        .ecr
        .put_image()
        .repository_name(&s.repo)
        .image_manifest(&manifest)
        .image_manifest_media_type(OCI_MANIFEST)
        .image_digest(image)
        .send()
        .await;
    s.observe(
        "repeated_untagged_put_image",
        match again {
            Ok(out) => json!({"accepted": true,
                "digest": out.image().and_then(|i| i.image_id()).and_then(|i| i.image_digest())}),
            Err(e) => json!({"accepted": false, "code": e.code(), "message": e.message()}),
        },
    );

    let got = s
        .clients
        .lambda
        .get_function()
        .function_name(&s.function.id)
        .send()
        .await
        .map_err(sdk("GetFunction"))?;
    let sha = got
        .configuration()
        .and_then(|c| c.code_sha256())
        .unwrap_or_default()
        .to_owned();
    s.observe("code_sha256", json!({"code_sha256": sha, "image": image}));
    let hex = image.strip_prefix("sha256:").unwrap_or(image);
    s.check(
        "GetFunction: CodeSha256 is the image digest's hex",
        expect(sha == hex, || format!("CodeSha256 {sha}, image {image}")),
    );

    // A real update (back to tag base's image, by digest), read at once and then
    // once a second until it ends.
    let base = push
        .ecr
        .batch_get_image()
        .repository_name(&s.repo)
        .image_ids(ImageIdentifier::builder().image_tag("base").build())
        .send()
        .await;
    let Some(base) = base.ok().and_then(|o| {
        o.images()
            .first()?
            .image_id()?
            .image_digest()
            .map(str::to_owned)
    }) else {
        s.observe(
            "image_while_updating",
            json!({"skipped": "no tag base (--function run)"}),
        );
        return Ok(());
    };
    let uri = format!("{}@{base}", created.repository_uri().unwrap_or_default());
    let lambda = s.clients.lambda.clone();
    lambda
        .update_function_code()
        .function_name(&s.function.id)
        .image_uri(&uri)
        .send()
        .await
        .map_err(sdk("UpdateFunctionCode"))?;
    let started = Instant::now();
    let mut reads = Vec::new();
    loop {
        let got = lambda
            .get_function()
            .function_name(&s.function.id)
            .send()
            .await
            .map_err(sdk("GetFunction"))?;
        let status = got
            .configuration()
            .and_then(|c| c.last_update_status())
            .map(|s| s.as_str().to_owned());
        let resolved = got
            .code()
            .and_then(|c| c.resolved_image_uri())
            .unwrap_or_default();
        let shows = if resolved.ends_with(&base) {
            "new"
        } else if resolved.ends_with(image) {
            "old"
        } else {
            "other"
        };
        reads.push(json!({"after_ms": started.elapsed().as_millis() as u64,
                          "last_update_status": status, "image": shows}));
        if status.as_deref() != Some("InProgress") || started.elapsed() > Duration::from_secs(600) {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    s.observe("image_while_updating", json!({"reads": reads}));
    Ok(())
}

/// `deploy --alias smoke` of `image` to the function, waiting for it, as the smoke
/// run's releases all are.
fn alias_deploy(function: &FunctionRef, image: ImageRef) -> DeployRequest {
    DeployRequest {
        image,
        functions: vec![function.clone()],
        concurrency: 1,
        platform: None,
        tag: None,
        publish: false,
        alias: Some("smoke".into()),
        wait: true,
        wait_timeout: Duration::from_secs(600),
        dry_run: false,
        keep_provenance: true,
        progress: false,
        gradual: None,
        provenance: Default::default(),
        protect: false,
    }
}

/// Step 6 (a temporary function only): `deploy --alias`, twice, and `rollback --alias`
/// through the library: the alias moves forward, then back to the first version.
async fn release(s: &mut Smoke, image_ref: ImageRef) -> Result<(), String> {
    let deploy = |image: ImageRef| alias_deploy(&s.function, image);
    let base = ImageRef {
        selector: Selector::Tag("base".into()),
        ..image_ref.clone()
    };
    let first = ecr_lambda::deploy(&s.clients, &deploy(image_ref))
        .await
        .map_err(lib("deploy --alias"))?;
    let second = ecr_lambda::deploy(&s.clients, &deploy(base.clone()))
        .await
        .map_err(lib("deploy --alias"))?;
    let version = |o: &ecr_lambda::Outcome<ecr_lambda::output::DeployReport>| {
        o.report.alias.as_ref().and_then(|a| a.version.clone())
    };
    let (v1, v2) = (version(&first), version(&second));
    s.check(
        "deploy --alias twice: two versions, the alias on the second",
        expect(
            first.exit == ExitCode::Success
                && second.exit == ExitCode::Success
                && v1.is_some()
                && v2.is_some()
                && v1 != v2,
            || {
                format!(
                    "exits {:?} {:?}, versions {v1:?} {v2:?}",
                    first.exit, second.exit
                )
            },
        ),
    );
    let back = ecr_lambda::ops::rollback(
        &s.clients,
        &ecr_lambda::ops::RollbackRequest {
            function: s.function.clone(),
            alias: Some("smoke".into()),
            to: None,
            dry_run: false,
            wait: true,
            wait_timeout: Duration::from_secs(600),
            progress: false,
        },
    )
    .await
    .map_err(lib("rollback --alias"))?;
    let to = back.report.to.as_ref().and_then(|t| t.version.clone());
    let alias = s
        .clients
        .lambda
        .get_alias()
        .function_name(&s.function.id)
        .name("smoke")
        .send()
        .await
        .map_err(sdk("GetAlias"))?;
    let now = alias.function_version().map(str::to_owned);
    s.observe(
        "alias_release",
        json!({"versions": [v1, v2], "rolled_back_to": to, "alias_now": now}),
    );
    s.check(
        "rollback --alias: back to the first version",
        expect(to == v1 && now == v1, || {
            format!("rolled back to {to:?}, alias at {now:?}, first {v1:?}")
        }),
    );
    canary(s, base).await
}

/// Step 7 (a temporary function only): a 1 s canary of the base image gated by one
/// alarm of the smoke run's own, the alias read while it bakes, and one Invoke of the
/// alias. What only an account shows: the routing weight as Lambda stores it,
/// DescribeAlarms over CloudWatch's CBOR protocol, and Invoke's answer for an image
/// that cannot run (its filesystem is empty), all recorded in `--json`.
async fn canary(s: &mut Smoke, base: ImageRef) -> Result<(), String> {
    use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, Statistic};
    let alarm = format!("{}-errors", s.repo);
    s.clients
        .cloudwatch
        .put_metric_alarm()
        .alarm_name(&alarm)
        .namespace("AWS/Lambda")
        .metric_name("Errors")
        .dimensions(
            Dimension::builder()
                .name("FunctionName")
                .value(&s.function.id)
                .build(),
        )
        .statistic(Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
        .treat_missing_data("notBreaching")
        .send()
        .await
        .map_err(sdk("PutMetricAlarm"))?;
    s.created_alarm = Some(alarm.clone());
    let request = DeployRequest {
        gradual: Some(Gradual {
            strategy: Strategy::Canary {
                weight: Weight::from_fraction(0.1),
                bake: Duration::from_secs(1),
            },
            alarms: vec![alarm.clone()],
            probe: None,
        }),
        ..alias_deploy(&s.function, base)
    };
    // The alias as any other client sees it while the release runs: every routing
    // configuration GetAlias showed, in order.
    let done = std::cell::Cell::new(false);
    let lambda = s.clients.lambda.clone();
    let id = s.function.id.clone();
    let release = async {
        let outcome = ecr_lambda::deploy(&s.clients, &request).await;
        done.set(true);
        outcome
    };
    let watch = async {
        let mut seen: Vec<Value> = Vec::new();
        while !done.get() {
            let got = lambda.get_alias().function_name(&id).name("smoke").send();
            if let Ok(alias) = got.await {
                let weights = alias
                    .routing_config()
                    .and_then(|r| r.additional_version_weights())
                    .map(|w| json!(w))
                    .unwrap_or_else(|| json!({}));
                let now = json!({"version": alias.function_version(), "weights": weights});
                if seen.last() != Some(&now) {
                    seen.push(now);
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        seen
    };
    let (outcome, seen) = tokio::join!(release, watch);
    let outcome = outcome.map_err(lib("deploy --canary"))?;
    let report = outcome.report.release.clone();
    let release = report.as_ref().map(|r| json!(r)).unwrap_or(Value::Null);
    let new = outcome
        .report
        .alias
        .as_ref()
        .and_then(|a| a.version.clone());
    let weighted = seen.iter().any(|a| {
        new.as_ref()
            .is_some_and(|v| a["weights"][v].as_f64() == Some(0.1))
    });
    let invoked = ecr_lambda::lambda::invoke(
        &s.clients.lambda,
        &s.function,
        "smoke",
        b"{}",
        Duration::from_secs(3),
    )
    .await;
    let invoke = match &invoked {
        Ok(i) => json!({
            "status": i.status, "function_error": i.function_error,
            "error_type": i.error_type, "error_message": i.error_message,
        }),
        Err(e) => json!({"error": e.to_string()}),
    };
    s.observe(
        "canary",
        json!({"exit": format!("{:?}", outcome.exit), "release": release, "alias_seen": seen, "invoke": invoke}),
    );
    let promoted = release["outcome"] == "promoted" && outcome.exit == ExitCode::Success;
    s.check(
        "canary 10 % for 1 s: the weight seen on the alias, then promoted",
        expect(promoted && weighted, || {
            format!(
                "exit {:?}, version {new:?}, alias seen {seen:?}",
                outcome.exit
            )
        }),
    );
    let alarms = &release["alarms"];
    s.check(
        "canary: DescribeAlarms read the alarm",
        expect(
            release["alarm_reads"].as_u64().unwrap_or(0) >= 1 && alarms[0]["name"] == alarm,
            || format!("alarms {alarms}, reads {}", release["alarm_reads"]),
        ),
    );
    s.check(
        "Invoke of the alias: Lambda answered",
        invoked.map(drop).map_err(|e| format!("Invoke: {e}")),
    );
    Ok(())
}

/// Step 3, through the library API: check, fix, check, deploy. The referrer written.
async fn library(s: &mut Smoke, image_ref: ImageRef, image: &str) -> Result<String, String> {
    let function = Some(s.function.clone());
    let check = CheckRequest {
        image: image_ref.clone(),
        function,
        platform: None,
        provenance: Default::default(),
    };
    let first = ecr_lambda::check(&s.clients, &check)
        .await
        .map_err(lib("check"))?;
    let r = &first.report;
    let ok = !r.lambda_ready && r.fixable && first.exit == ExitCode::NotUsable;
    let why = format!(
        "ready {}, fixable {}, exit {:?}",
        r.lambda_ready, r.fixable, first.exit
    );
    s.check_report(
        "check: the buildx index is not ready, and fixable",
        ok,
        why,
        r,
    );

    let fix = FixRequest {
        image: image_ref.clone(),
        function: check.function.clone(),
        platform: None,
        tag: None,
        dry_run: false,
        keep_provenance: true,
        provenance: Default::default(),
    };
    let fixed = ecr_lambda::fix(&s.clients, &fix)
        .await
        .map_err(lib("fix"))?;
    let r = &fixed.report;
    let target = r.check.target.as_ref().map(|t| t.digest.as_str());
    let (tag, written) = (r.written_tag.as_deref(), &r.provenance_written);
    let ok = r.action == Some(Action::Retagged) && tag == Some("v1") && target == Some(image);
    let why = format!(
        "{:?} {tag:?} to {target:?}, referrers written {written:?}",
        r.action
    );
    let what = "fix: v1 names the image manifest, one referrer written";
    s.check_report(what, ok && written.len() == 1, why, r);
    let referrer = written.first().cloned().unwrap_or_default();

    let second = ecr_lambda::check(&s.clients, &check)
        .await
        .map_err(lib("check"))?;
    let r = &second.report;
    let arch = r.config.as_ref().map(|c| c.architecture.as_str());
    let listed = r.provenance.iter().any(|p| {
        p.linked == Link::Referrer && p.digest == referrer && p.predicate_types == [SLSA_V02]
    });
    let ok = r.lambda_ready && second.exit == ExitCode::Success && arch == Some(s.arch);
    let why = format!(
        "ready {}, config arch {arch:?}, referrer listed {listed}",
        r.lambda_ready
    );
    let what = format!(
        "check again: ready, config {} read, provenance a referrer",
        s.arch
    );
    s.check_report(&what, ok && listed, why, r);

    let deploy = DeployRequest {
        image: image_ref,
        functions: vec![s.function.clone()],
        concurrency: 1,
        platform: None,
        tag: None,
        publish: false,
        alias: None,
        wait: true,
        // A new function's Pending (Lambda optimising the image) can last minutes.
        wait_timeout: Duration::from_secs(600),
        dry_run: false,
        keep_provenance: true,
        progress: false,
        gradual: None,
        provenance: Default::default(),
        protect: false,
    };
    s.deployed = true;
    let deployed = ecr_lambda::deploy(&s.clients, &deploy)
        .await
        .map_err(lib("deploy"))?;
    let r = &deployed.report;
    let status = r.update.as_ref().map(|u| u.status);
    let ok = deployed.exit == ExitCode::Success && status == Some(UpdateStatus::Successful);
    let why = format!("exit {:?}, update {:?}", deployed.exit, r.update);
    s.check_report(&format!("deploy: {} updated", s.function), ok, why, r);
    Ok(referrer)
}

/// Step 4: what ECR and Lambda themselves say now, through plain SDK calls.
async fn verify(s: &mut Smoke, image: &str, referrer: &str) -> Result<(), String> {
    let (ecr, repo) = (s.clients.ecr.clone(), s.repo.clone());
    let v1 = ImageIdentifier::builder().image_tag("v1").build();
    let got = ecr
        .batch_get_image()
        .repository_name(&repo)
        .image_ids(v1)
        .send()
        .await;
    let tagged = got.map_err(sdk("BatchGetImage")).and_then(|out| {
        let digest = out
            .images()
            .first()
            .and_then(|i| i.image_id()?.image_digest());
        expect(digest == Some(image), || format!("v1 names {digest:?}"))
    });
    s.check("BatchGetImage: v1 names the image manifest", tagged);

    let got = s
        .clients
        .lambda
        .get_function()
        .function_name(&s.function.id)
        .send()
        .await;
    let runs = got.map_err(sdk("GetFunction")).and_then(|out| {
        let resolved = out
            .code()
            .and_then(|c| c.resolved_image_uri())
            .unwrap_or_default();
        let ok = resolved.ends_with(&format!("@{image}"));
        expect(ok, || format!("ResolvedImageUri is {resolved:?}"))
    });
    s.check("GetFunction: the function runs the image by digest", runs);

    let subject = SubjectIdentifier::builder().image_digest(image).build();
    let subject = subject.map_err(|e| e.to_string())?;
    let list = ecr
        .list_image_referrers()
        .repository_name(&repo)
        .subject_id(subject);
    let listed = list
        .send()
        .await
        .map_err(sdk("ListImageReferrers"))
        .and_then(|out| {
            let digests: Vec<&str> = out.referrers().iter().map(|r| r.digest()).collect();
            let ok = digests.contains(&referrer);
            expect(ok, || format!("lists {digests:?}, not {referrer:?}"))
        });
    s.check(
        "ListImageReferrers: the attestation is a referrer of the image",
        listed,
    );
    Ok(())
}

/// Step 5: deletes what the run created, the function first (it runs the repository's
/// image). Never the user's `--function`.
async fn cleanup(s: &mut Smoke) {
    if let Some(alarm) = s.created_alarm.take() {
        let delete = s.clients.cloudwatch.delete_alarms().alarm_names(&alarm);
        let deleted = delete.send().await.map(drop).map_err(sdk("DeleteAlarms"));
        s.check(&format!("deleted alarm {alarm}"), deleted);
    }
    if std::mem::take(&mut s.created_function) {
        let delete = s
            .clients
            .lambda
            .delete_function()
            .function_name(&s.function.id);
        let deleted = delete.send().await.map(drop).map_err(sdk("DeleteFunction"));
        s.check(&format!("deleted function {}", s.function), deleted);
    }
    if std::mem::take(&mut s.created_repo) {
        let delete = s
            .clients
            .ecr
            .delete_repository()
            .repository_name(&s.repo)
            .force(true);
        let deleted = delete
            .send()
            .await
            .map(drop)
            .map_err(sdk("DeleteRepository"));
        s.check(
            &format!("deleted repository {} and its images", s.repo),
            deleted,
        );
    }
}

/// Nothing was created yet: say why and exit 2.
fn setup_failed(why: impl Display) -> ! {
    eprintln!("smoke: {why}");
    std::process::exit(2)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    let started = Instant::now();
    // RandomState is seeded randomly in each process: a random name without a new crate.
    let name = format!(
        "ecr-lambda-smoke-{:08x}",
        RandomState::new().hash_one(0) as u32
    );
    let function = args
        .function
        .as_deref()
        .unwrap_or(&name)
        .parse::<FunctionRef>();
    let function = function.unwrap_or_else(|e| setup_failed(e));
    let options = AwsOptions {
        profile: args.profile.clone(),
        region: args.region.clone(),
        endpoint_url: args.endpoint_url.clone(),
        max_attempts: 3,
        connect_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(30),
    };
    // The repository goes where the function is: Lambda pulls from its own region only.
    let region = args.region.clone().or_else(|| function.region.clone());
    let regions = Regions {
        image: region.clone(),
        function: region,
    };
    let clients = config::clients(&options, &regions, &CallStats::default()).await;
    let clients = clients.unwrap_or_else(|e| setup_failed(e));

    // The user's function is read before anything is created: its architecture is the
    // image's, and the image it runs now is the one to put back afterwards.
    let (mut arch, mut before) = ("amd64", String::new());
    if args.function.is_some() {
        let got = clients
            .lambda
            .get_function()
            .function_name(&function.id)
            .send()
            .await;
        let got = got.unwrap_or_else(|e| setup_failed(sdk("GetFunction")(e)));
        let config = got.configuration();
        if config.and_then(|c| c.package_type()) != Some(&PackageType::Image) {
            setup_failed(format!("{function} is not a container image function"));
        }
        if config.is_some_and(|c| c.architectures().contains(&Architecture::Arm64)) {
            arch = "arm64";
        }
        let code = got
            .code()
            .and_then(|c| c.resolved_image_uri().or(c.image_uri()));
        before = code.unwrap_or("no image").to_owned();
    }

    let (ecr_region, lambda_region) = (&clients.ecr_region, &clients.lambda_region);
    println!("This run creates (ECR in {ecr_region}, Lambda in {lambda_region}):");
    println!("  ECR repository {name}: tag v1 a linux/{arch} image with provenance");
    let role_arn = args.role_arn.clone().filter(|_| args.function.is_none());
    match &role_arn {
        Some(role) => println!("  Lambda function {name} (x86_64, role {role})"),
        None => println!("  and deploys to YOUR function {function} (now {before}), kept"),
    }
    let mut smoke = Smoke {
        clients,
        repo: name,
        function,
        arch,
        role_arn,
        created_repo: false,
        created_function: false,
        deployed: false,
        created_alarm: None,
        failed: 0,
        checks: Vec::new(),
        observations: serde_json::Map::new(),
    };
    // Whatever the run came to, cleanup follows.
    if let Err(why) = run(&mut smoke).await {
        smoke.check("the smoke run stopped", Err(why));
    }
    if args.keep {
        println!("--keep: nothing deleted; left repository {}", smoke.repo);
        if smoke.created_function {
            println!("       and function {}", smoke.function);
        }
    } else {
        cleanup(&mut smoke).await;
    }
    if args.function.is_some() && smoke.deployed {
        let f = &smoke.function;
        println!("note: {f} now runs the smoke image; it ran {before} before:");
        println!("      `ecr-lambda deploy {before} --function {f}` puts it back");
    }
    if let Some(path) = &args.json {
        let doc = json!({
            "passed": smoke.failed == 0,
            "ecr_region": smoke.clients.ecr_region,
            "lambda_region": smoke.clients.lambda_region,
            "endpoint_url": args.endpoint_url,
            "temporary_function": smoke.created_function || args.role_arn.is_some(),
            "checks": smoke.checks,
            "observations": smoke.observations,
        });
        let text = serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n";
        match std::fs::write(path, text) {
            Ok(()) => println!(
                "wrote {}: send it back, it settles what AWS does",
                path.display()
            ),
            Err(e) => eprintln!("smoke: cannot write {}: {e}", path.display()),
        }
    }
    let verdict = match smoke.failed {
        0 => "passed".to_owned(),
        n => format!("FAILED ({n} checks)"),
    };
    println!(
        "smoke run {verdict} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    std::process::exit(if smoke.failed == 0 { 0 } else { 1 });
}
