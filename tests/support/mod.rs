//! The emulator harness: the local AWS (moto behind our launcher,
//! `tests/support/emulator/`) started once per test binary (and gone when the binary
//! exits), seeding through the AWS APIs the way buildx pushes, and running the built
//! binary as a user would.
//!
//! moto's gaps that matter are corrected in the launcher, never in the tool: each
//! correction is a row of `tests/support/emulator/FIDELITY.md`. Lambda updates take
//! time there (1 s unless a test sets otherwise through [`lambda_behaviour`]).

#![allow(dead_code)]

pub mod proxy;
pub mod retention;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use aws_config::{BehaviorVersion, Region};
use aws_sdk_lambda::types::{Architecture, FunctionCode, PackageType};
use sha2::{Digest as _, Sha256};

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";
pub const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/ecr-lambda-test-role";

pub struct Moto {
    pub port: u16,
    // Held so the server lives as long as this process: it exits when stdin closes.
    _stdin: Mutex<ChildStdin>,
    _child: Mutex<Child>,
}

impl Moto {
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn start_moto() -> Moto {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/emulator/server.py");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the moto server (pip install \"moto[server]==5.2.5\")");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the moto port");
    let port = line.trim().parse().unwrap_or_else(|_| {
        panic!("moto did not start (said {line:?}); is moto[server] installed?")
    });
    let stdin = child.stdin.take().expect("piped stdin");
    Moto {
        port,
        _stdin: Mutex::new(stdin),
        _child: Mutex::new(child),
    }
}

pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(start_moto)
}

/// One HTTP/1.1 request to the emulator's control API (`/_emulator/...`): its status
/// and JSON answer.
fn control(method: &str, path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
    use std::io::{BufRead, Read, Write};
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", moto().port)).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    // Read the head, then exactly Content-Length bytes: the server need not close.
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut answer = vec![0; length];
    reader.read_exact(&mut answer).unwrap();
    let json = serde_json::from_slice(&answer).unwrap_or(serde_json::Value::Null);
    (status, json)
}

/// How the emulator's Lambda treats `function` from now on (it may not exist yet):
/// `update_seconds`, `pending_seconds`, `outcome` (`Successful`/`Failed`),
/// `reason_code`, `reason`.
pub fn lambda_behaviour(function: &str, settings: serde_json::Value) {
    let (status, answer) = control(
        "POST",
        &format!("/_emulator/lambda/functions/{function}"),
        &settings,
    );
    assert_eq!(status, 200, "set the behaviour of {function}: {answer}");
}

/// The emulator's count of Lambda calls for `function`: `get_function`,
/// `get_function_configuration`, `update_function_code`.
pub fn lambda_reads(function: &str) -> serde_json::Value {
    let (status, answer) = control(
        "GET",
        &format!("/_emulator/lambda/functions/{function}/reads"),
        &serde_json::Value::Null,
    );
    assert_eq!(status, 200, "read the counts of {function}: {answer}");
    answer
}

/// A control-API call of the emulator that must succeed: its JSON answer.
pub fn emulator(method: &str, path: &str, body: serde_json::Value) -> serde_json::Value {
    let (status, answer) = control(method, path, &body);
    assert_eq!(status, 200, "{method} {path}: {answer}");
    answer
}

/// How the emulator answers an Invoke of `function` at `qualifier` (`"*"`: any
/// version without its own answer): `status`, `function_error`, `payload`, `log`.
pub fn invoke_answer(function: &str, qualifier: &str, mut answer: serde_json::Value) {
    answer["qualifier"] = serde_json::Value::from(qualifier);
    emulator(
        "POST",
        &format!("/_emulator/lambda/functions/{function}/invoke"),
        answer,
    );
}

/// Every Invoke of `function` the emulator saw, oldest first.
pub fn invocations(function: &str) -> Vec<serde_json::Value> {
    emulator(
        "GET",
        &format!("/_emulator/lambda/functions/{function}/invocations"),
        serde_json::Value::Null,
    )["invocations"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Every accepted write to an alias, oldest first: `{at, op, function_version,
/// weights, revision_id}`.
pub fn alias_history(function: &str, alias: &str) -> Vec<serde_json::Value> {
    emulator(
        "GET",
        &format!("/_emulator/lambda/functions/{function}/aliases/{alias}/history"),
        serde_json::Value::Null,
    )["history"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// How many DescribeAlarms named `alarm`.
pub fn alarm_reads(alarm: &str) -> u64 {
    emulator(
        "GET",
        &format!("/_emulator/cloudwatch/alarms/{alarm}/reads"),
        serde_json::Value::Null,
    )["describe_alarms"]
        .as_u64()
        .unwrap_or(0)
}

/// A name no other test in this process uses (tests share one server).
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A path under the system's temporary directory, unique across processes too: test
/// binaries (and checkouts) running at the same time never share a scratch directory,
/// as [`unique`]'s per-process counter alone would make them.
pub fn scratch_path(prefix: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(unique(&format!("{prefix}-{}", std::process::id())))
}

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_ecr::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await
}

pub async fn ecr() -> aws_sdk_ecr::Client {
    aws_sdk_ecr::Client::new(&sdk_config(&moto().endpoint()).await)
}

pub async fn lambda() -> aws_sdk_lambda::Client {
    aws_sdk_lambda::Client::new(&sdk_config(&moto().endpoint()).await)
}

/// A Lambda client in another region of the emulator.
pub async fn lambda_in(region: &str) -> aws_sdk_lambda::Client {
    let config = sdk_config(&moto().endpoint()).await;
    aws_sdk_lambda::Client::from_conf(
        aws_sdk_lambda::config::Builder::from(&config)
            .region(Region::new(region.to_owned()))
            .build(),
    )
}

/// An ECR client in another region of the emulator.
pub async fn ecr_in(region: &str) -> aws_sdk_ecr::Client {
    let config = sdk_config(&moto().endpoint()).await;
    aws_sdk_ecr::Client::from_conf(
        aws_sdk_ecr::config::Builder::from(&config)
            .region(Region::new(region.to_owned()))
            .build(),
    )
}

pub async fn cloudwatch() -> aws_sdk_cloudwatch::Client {
    aws_sdk_cloudwatch::Client::new(&sdk_config(&moto().endpoint()).await)
}

/// A metric alarm named `name`, then set to `state` (`OK`, `ALARM`) with `reason`.
pub async fn alarm(name: &str, state: &str, reason: &str) {
    cloudwatch()
        .await
        .put_metric_alarm()
        .alarm_name(name)
        .namespace("AWS/Lambda")
        .metric_name("Errors")
        .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(
            aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanOrEqualToThreshold,
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("put alarm {name}: {e:?}"));
    set_alarm(name, state, reason).await;
}

/// SetAlarmState.
pub async fn set_alarm(name: &str, state: &str, reason: &str) {
    cloudwatch()
        .await
        .set_alarm_state()
        .alarm_name(name)
        .state_value(aws_sdk_cloudwatch::types::StateValue::from(state))
        .state_reason(reason)
        .send()
        .await
        .unwrap_or_else(|e| panic!("set alarm {name}: {e:?}"));
}

/// GetAlias: (FunctionVersion, AdditionalVersionWeights).
pub async fn alias_state(function: &str, name: &str) -> (String, Vec<(String, f64)>) {
    let out = lambda()
        .await
        .get_alias()
        .function_name(function)
        .name(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("get alias {name} of {function}: {e:?}"));
    let weights = out
        .routing_config()
        .and_then(|r| r.additional_version_weights())
        .map(|w| w.iter().map(|(k, v)| (k.clone(), *v)).collect())
        .unwrap_or_default();
    (
        out.function_version().unwrap_or_default().to_owned(),
        weights,
    )
}

/// A manifest file of a fixture case.
#[derive(Clone, Debug)]
pub struct Manifest {
    pub bytes: String,
    pub digest: String,
    pub media_type: String,
}

/// A blob file of a fixture case: a config (`config-amd64.json`, `att-config-amd64.json`,
/// `empty.json`), a layer (`amd64-layer0.tar.gz`) or an in-toto statement
/// (`intoto-amd64.json`). Every blob a fixture manifest names is one (but a Windows
/// foreign layer, which no client pushes).
#[derive(Clone, Debug)]
pub struct Blob {
    pub file: String,
    pub bytes: Vec<u8>,
    pub digest: String,
    pub media_type: String,
}

#[derive(Clone, Debug)]
pub struct Case {
    pub root: Manifest,
    /// By file name (`image-amd64.json`).
    pub children: Vec<(String, Manifest)>,
    /// Every blob its manifests name, in `case.json` order.
    pub blobs: Vec<Blob>,
}

impl Case {
    pub fn child(&self, file: &str) -> &Manifest {
        &self
            .children
            .iter()
            .find(|(f, _)| f == file)
            .unwrap_or_else(|| panic!("no child {file}"))
            .1
    }

    /// The root (`root.json`) or a child, by file name.
    pub fn manifest(&self, file: &str) -> &Manifest {
        if file == "root.json" {
            &self.root
        } else {
            self.child(file)
        }
    }

    pub fn blob(&self, file: &str) -> &Blob {
        self.blobs
            .iter()
            .find(|b| b.file == file)
            .unwrap_or_else(|| panic!("no blob {file}"))
    }

    /// The blobs the manifest in `file` names (its config and layers), none for an
    /// index or a manifest that does not parse.
    pub fn blobs_of(&self, file: &str) -> Vec<&Blob> {
        let Ok(doc) = serde_json::from_str::<serde_json::Value>(&self.manifest(file).bytes) else {
            return vec![];
        };
        let mut named = vec![&doc["config"]];
        named.extend(doc["layers"].as_array().into_iter().flatten());
        let digests: Vec<&str> = named.iter().filter_map(|d| d["digest"].as_str()).collect();
        self.blobs
            .iter()
            .filter(|b| digests.contains(&b.digest.as_str()))
            .collect()
    }

    /// The config blob of the image manifest in `file`.
    pub fn config_of(&self, file: &str) -> &Blob {
        let doc: serde_json::Value = serde_json::from_str(&self.manifest(file).bytes).unwrap();
        let digest = doc["config"]["digest"]
            .as_str()
            .unwrap_or_else(|| panic!("{file} has no config"));
        self.blobs
            .iter()
            .find(|b| b.digest == digest)
            .unwrap_or_else(|| panic!("{file}: no blob for its config {digest}"))
    }
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn load_case(name: &str) -> Case {
    let dir = fixtures().join(name);
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap()).unwrap();
    let manifest = |entry: &serde_json::Value| {
        let file = entry["file"].as_str().unwrap();
        let bytes = String::from_utf8(std::fs::read(dir.join(file)).unwrap()).unwrap();
        let digest = entry["digest"].as_str().unwrap().to_owned();
        assert_eq!(
            sha256(bytes.as_bytes()),
            digest,
            "{name}/{file}: case.json digest"
        );
        (
            file.to_owned(),
            Manifest {
                bytes,
                digest,
                media_type: entry["media_type"].as_str().unwrap().to_owned(),
            },
        )
    };
    let blob = |entry: &serde_json::Value| {
        let file = entry["file"].as_str().unwrap();
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let digest = entry["digest"].as_str().unwrap().to_owned();
        assert_eq!(sha256(&bytes), digest, "{name}/{file}: case.json digest");
        assert_eq!(
            entry["size"].as_u64(),
            Some(bytes.len() as u64),
            "{name}/{file}: case.json size"
        );
        Blob {
            file: file.to_owned(),
            bytes,
            digest,
            media_type: entry["media_type"].as_str().unwrap().to_owned(),
        }
    };
    Case {
        root: manifest(&meta["root"]).1,
        children: meta["children"]
            .as_array()
            .unwrap()
            .iter()
            .map(manifest)
            .collect(),
        blobs: meta["blobs"]
            .as_array()
            .map(|b| b.iter().map(blob).collect())
            .unwrap_or_default(),
    }
}

pub async fn create_repository(repo: &str, immutable: bool) {
    let mutability = if immutable { "IMMUTABLE" } else { "MUTABLE" };
    ecr()
        .await
        .create_repository()
        .repository_name(repo)
        .image_tag_mutability(mutability.into())
        .send()
        .await
        .expect("create repository");
}

/// PutImage of `m` alone: the repository must already hold the blobs (and, for an
/// index, the manifests) it names, or the emulator refuses it as ECR does
/// (`LayersNotFoundException`, `ReferencedImagesNotFoundException`; FIDELITY.md E19)
/// unless the repository was opted out with [`allow_missing`].
pub async fn put(repo: &str, tag: Option<&str>, m: &Manifest) {
    ecr()
        .await
        .put_image()
        .repository_name(repo)
        .image_manifest(&m.bytes)
        .image_manifest_media_type(&m.media_type)
        .image_digest(&m.digest)
        .set_image_tag(tag.map(str::to_owned))
        .send()
        .await
        .unwrap_or_else(|e| panic!("seed {repo}:{tag:?}: {e:?}"));
}

/// Pushes a blob as docker and buildx do through ECR's layer-upload API (one part);
/// one the repository has already is fine. Its digest.
pub async fn upload_blob(repo: &str, bytes: &[u8]) -> String {
    upload_blob_with(&ecr().await, repo, bytes).await
}

/// In `region` (a region of its own keeps other tests' functions out of a
/// whole-region read): repository `repo` holding the docker-v2 fixture as `repo:v1`,
/// its blobs uploaded, and the image function `function` running it. The image's
/// digest.
pub async fn image_function_in(region: &str, repo: &str, function: &str) -> String {
    let ecr = ecr_in(region).await;
    ecr.create_repository()
        .repository_name(repo)
        .send()
        .await
        .unwrap();
    let case = load_case("docker-v2");
    for blob in case.blobs_of("root.json") {
        upload_blob_with(&ecr, repo, &blob.bytes).await;
    }
    let image = case.root;
    ecr.put_image()
        .repository_name(repo)
        .image_manifest(&image.bytes)
        .image_manifest_media_type(&image.media_type)
        .image_digest(&image.digest)
        .image_tag("v1")
        .send()
        .await
        .unwrap();
    lambda_in(region)
        .await
        .create_function()
        .function_name(function)
        .role(ROLE_ARN)
        .package_type(PackageType::Image)
        .code(
            FunctionCode::builder()
                .image_uri(format!(
                    "{ACCOUNT}.dkr.ecr.{region}.amazonaws.com/{repo}:v1"
                ))
                .build(),
        )
        .send()
        .await
        .unwrap();
    image.digest
}

/// [`upload_blob`] through a given client (another region, say).
pub async fn upload_blob_with(ecr: &aws_sdk_ecr::Client, repo: &str, bytes: &[u8]) -> String {
    assert!(
        !bytes.is_empty(),
        "an empty blob cannot be uploaded in one part"
    );
    let digest = sha256(bytes);
    let upload = ecr
        .initiate_layer_upload()
        .repository_name(repo)
        .send()
        .await
        .unwrap_or_else(|e| panic!("initiate a layer upload to {repo}: {e:?}"));
    let id = upload.upload_id().expect("an upload id");
    ecr.upload_layer_part()
        .repository_name(repo)
        .upload_id(id)
        .part_first_byte(0)
        .part_last_byte(bytes.len() as i64 - 1)
        .layer_part_blob(aws_sdk_ecr::primitives::Blob::new(bytes))
        .send()
        .await
        .unwrap_or_else(|e| panic!("upload {digest} to {repo}: {e:?}"));
    match ecr
        .complete_layer_upload()
        .repository_name(repo)
        .upload_id(id)
        .layer_digests(&digest)
        .send()
        .await
    {
        Ok(done) => assert_eq!(done.layer_digest(), Some(digest.as_str()), "{repo}"),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_layer_already_exists_exception()) => {}
        Err(e) => panic!("complete the upload of {digest} to {repo}: {e:?}"),
    }
    digest
}

/// Pushes one manifest of a case (`root.json` or a child's file) after the blobs it
/// names, under `tag` or by digest only.
pub async fn seed_manifest(repo: &str, tag: Option<&str>, case: &Case, file: &str) {
    for blob in case.blobs_of(file) {
        upload_blob(repo, &blob.bytes).await;
    }
    put(repo, tag, case.manifest(file)).await;
}

/// Pushes a case as buildx does: every blob, then the children by digest (an index
/// after the manifests it names), then the root under `tag`.
pub async fn seed(repo: &str, tag: &str, case: &Case) {
    for blob in &case.blobs {
        upload_blob(repo, &blob.bytes).await;
    }
    for child in children_in_push_order(case) {
        put(repo, None, child).await;
    }
    put(repo, Some(tag), &case.root).await;
}

/// A case's children, each after every child it names (a nested index after its
/// images), as ECR wants them pushed.
pub fn children_in_push_order(case: &Case) -> Vec<&Manifest> {
    let names = |m: &Manifest| -> Vec<String> {
        serde_json::from_str::<serde_json::Value>(&m.bytes)
            .ok()
            .and_then(|doc| doc["manifests"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|e| e["digest"].as_str().map(str::to_owned))
            .collect()
    };
    let mut left: Vec<&Manifest> = case.children.iter().map(|(_, m)| m).collect();
    let mut order: Vec<&Manifest> = Vec::new();
    while !left.is_empty() {
        let ready = left
            .iter()
            .position(|m| {
                names(m)
                    .iter()
                    .all(|d| !left.iter().any(|other| &other.digest == d))
            })
            .expect("no cycle among a case's children");
        order.push(left.remove(ready));
    }
    order
}

/// From now on the emulator stores whatever PutImage sends to `repo`, blobs or child
/// manifests missing or not (FIDELITY.md E19; the default refuses as ECR does): for
/// a test whose point is a registry holding what ECR would refuse.
pub fn allow_missing(repo: &str) {
    emulator(
        "POST",
        &format!("/_emulator/ecr/repositories/{repo}/allow-missing"),
        serde_json::Value::Null,
    );
}

/// An image read straight from the emulator, by tag or digest.
async fn image(
    repo: &str,
    id: aws_sdk_ecr::types::ImageIdentifier,
) -> Option<aws_sdk_ecr::types::Image> {
    let out = ecr()
        .await
        .batch_get_image()
        .repository_name(repo)
        .image_ids(id)
        .send()
        .await
        .unwrap();
    out.images().first().cloned()
}

/// The manifest the tag names now.
pub async fn tag_digest(repo: &str, tag: &str) -> Option<String> {
    let id = aws_sdk_ecr::types::ImageIdentifier::builder()
        .image_tag(tag)
        .build();
    image(repo, id)
        .await
        .and_then(|i| i.image_id()?.image_digest().map(str::to_owned))
}

pub async fn manifest_bytes(repo: &str, digest: &str) -> String {
    let id = aws_sdk_ecr::types::ImageIdentifier::builder()
        .image_digest(digest)
        .build();
    let image = image(repo, id)
        .await
        .expect("the manifest is in the repository");
    image.image_manifest().unwrap().to_owned()
}

/// The tag names `digest` now.
pub async fn assert_tag(repo: &str, tag: &str, digest: &str) {
    assert_eq!(
        tag_digest(repo, tag).await.as_deref(),
        Some(digest),
        "{repo}:{tag}"
    );
}

/// The function runs the image with `digest`.
pub async fn assert_runs(function: &str, digest: &str) {
    let (_, resolved) = function_image(function).await;
    let resolved = resolved.expect("a resolved image");
    assert!(
        resolved.ends_with(digest),
        "{function} runs {resolved}, not {digest}"
    );
}

pub fn uri(repo: &str, reference: &str) -> String {
    format!("{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{repo}{reference}")
}

/// Creates an image function from a ready single manifest (moto resolves the URI in
/// its ECR and cannot start from an index).
pub async fn create_function(name: &str, image_uri: &str, arch: Architecture) {
    create_function_with(name, image_uri, arch, None).await;
}

/// UpdateAlias of `alias`: `version` takes the traffic but for `weight` on `weighted`
/// (another party's move, or a release set up by hand).
pub async fn weigh_alias(function: &str, alias: &str, version: &str, weighted: &str, weight: f64) {
    lambda()
        .await
        .update_alias()
        .function_name(function)
        .name(alias)
        .function_version(version)
        .routing_config(
            aws_sdk_lambda::types::AliasRoutingConfiguration::builder()
                .additional_version_weights(weighted, weight)
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("weigh alias {alias} of {function}: {e:?}"));
}

/// An image function on Lambda Managed Instances (a `CapacityProviderConfig`;
/// FIDELITY.md, L14).
pub async fn create_managed_instances_function(name: &str, image_uri: &str) {
    use aws_sdk_lambda::types::{
        CapacityProviderConfig, LambdaManagedInstancesCapacityProviderConfig,
    };
    let capacity = LambdaManagedInstancesCapacityProviderConfig::builder()
        .capacity_provider_arn(format!(
            "arn:aws:lambda:{REGION}:{ACCOUNT}:capacity-provider:cp"
        ))
        .build()
        .expect("the ARN is set");
    lambda()
        .await
        .create_function()
        .function_name(name)
        .role(ROLE_ARN)
        .package_type(PackageType::Image)
        .code(FunctionCode::builder().image_uri(image_uri).build())
        .capacity_provider_config(
            CapacityProviderConfig::builder()
                .lambda_managed_instances_capacity_provider_config(capacity)
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("create function {name}: {e:?}"));
}

/// [`create_function`] with the function's own command in its image configuration.
pub async fn create_function_with(
    name: &str,
    image_uri: &str,
    arch: Architecture,
    command: Option<&str>,
) {
    lambda()
        .await
        .create_function()
        .function_name(name)
        .role(ROLE_ARN)
        .package_type(PackageType::Image)
        .code(FunctionCode::builder().image_uri(image_uri).build())
        .architectures(arch)
        .set_image_config(command.map(|c| {
            aws_sdk_lambda::types::ImageConfig::builder()
                .command(c)
                .build()
        }))
        .send()
        .await
        .unwrap_or_else(|e| panic!("create function {name}: {e:?}"));
}

/// A repository with a buildx case under `tag` and a ready image under `base`, and
/// a function created from `base`: (repository, function, case).
pub async fn buildx_setup(case: &str, tag: &str, arch: Architecture) -> (String, String, Case) {
    let repo = unique("app");
    let function = unique("fn");
    let fixture = load_case(case);
    create_repository(&repo, false).await;
    seed(&repo, tag, &fixture).await;
    seed_manifest(&repo, Some("base"), &load_case("docker-v2"), "root.json").await;
    create_function(&function, &uri(&repo, ":base"), arch).await;
    (repo, function, fixture)
}

pub async fn function_image(name: &str) -> (Option<String>, Option<String>) {
    version_image(name, None).await
}

/// The image a published version (or, with `None`, `$LATEST`) runs: (ImageUri,
/// ResolvedImageUri).
pub async fn version_image(name: &str, version: Option<&str>) -> (Option<String>, Option<String>) {
    let out = lambda()
        .await
        .get_function()
        .function_name(name)
        .set_qualifier(version.map(str::to_owned))
        .send()
        .await
        .unwrap();
    let code = out.code().unwrap();
    (
        code.image_uri().map(str::to_owned),
        code.resolved_image_uri().map(str::to_owned),
    )
}

/// Runs the built binary against the emulator, with fake credentials and no
/// access to the user's AWS files.
pub fn run(args: &[&str]) -> Output {
    run_at(&moto().endpoint(), args)
}

/// Runs the binary against `endpoint` (a proxy in front of moto, say).
pub fn run_at(endpoint: &str, args: &[&str]) -> Output {
    command_at(endpoint, args).output().expect("run ecr-lambda")
}

pub fn command_at(endpoint: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ecr-lambda"));
    cmd.arg("--endpoint-url").arg(endpoint).args(args);
    isolate(&mut cmd);
    cmd
}

/// A proxy of this test's own in front of the shared moto server.
pub fn proxy() -> proxy::Proxy {
    proxy::Proxy::start(moto().port, std::time::Duration::ZERO)
}

/// A command with only the environment the tests choose.
pub fn isolate(cmd: &mut Command) {
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", REGION)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true");
}

/// `ecr-lambda deploy IMAGE --function FUNCTION [EXTRA] --output json` against moto.
pub fn deploy(image: &str, function: &str, extra: &[&str]) -> Output {
    deploy_at(&moto().endpoint(), image, function, extra)
}

pub fn deploy_at(endpoint: &str, image: &str, function: &str, extra: &[&str]) -> Output {
    deploy_all_at(endpoint, image, &[function], extra)
}

/// One image to several functions: `deploy IMAGE --function F1 --function F2 ...
/// [EXTRA] --output json` against `endpoint`.
pub fn deploy_all_at(endpoint: &str, image: &str, functions: &[&str], extra: &[&str]) -> Output {
    let mut args = vec!["deploy", image];
    for function in functions {
        args.extend_from_slice(&["--function", function]);
    }
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--output", "json"]);
    run_at(endpoint, &args)
}

pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The roles of a report's index entries, in order.
pub fn roles(report: &serde_json::Value) -> Vec<String> {
    report["manifests"]
        .as_array()
        .expect("manifests is an array")
        .iter()
        .map(|m| m["role"].as_str().expect("a role").to_owned())
        .collect()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn code(out: &Output) -> i32 {
    out.status.code().expect("exited")
}

/// A loopback HTTP server holding every fixture blob, by digest (`GET /sha256:...`),
/// for tests whose GetDownloadUrlForLayer answers come from mocks: the tool's real
/// GET reads them. Started once per test binary; its port.
pub fn blob_server() -> u16 {
    use std::io::{Read, Write};
    static PORT: OnceLock<u16> = OnceLock::new();
    *PORT.get_or_init(|| {
        let mut blobs = std::collections::HashMap::new();
        for entry in std::fs::read_dir(fixtures()).unwrap() {
            let dir = entry.unwrap().path();
            if dir.join("case.json").exists() {
                let name = dir.file_name().unwrap().to_str().unwrap().to_owned();
                for blob in load_case(&name).blobs {
                    blobs.insert(blob.digest.clone(), blob.bytes.clone());
                }
            }
        }
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut request = [0u8; 4096];
                let n = stream.read(&mut request).unwrap_or(0);
                let line = String::from_utf8_lossy(&request[..n]);
                let digest = line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("/")
                    .trim_start_matches('/')
                    .to_owned();
                let (status, body) = match blobs.get(&digest) {
                    Some(bytes) => ("200 OK", bytes.clone()),
                    None => ("404 Not Found", b"no such blob".to_vec()),
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(&body);
            }
        });
        port
    })
}
