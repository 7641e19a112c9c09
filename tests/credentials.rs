//! The first minute with a real account: each way a newcomer's AWS setup fails to give
//! credentials ends in one error naming the cause and the fix (exit 4, kind
//! `credentials`), before any AWS call, with no SDK log line and no debug dump; the
//! setups that work (a credential_process, an SSO session with a cached token) work
//! against the emulator, and resolving credentials up front costs no second fetch.
//!
//! Every run has a temporary HOME with its own AWS files, instance metadata disabled
//! (unless a test stands in for it) and no credentials in the environment. STS and the
//! SSO portal, which moto does not refuse or does not have, are small local stand-ins.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use aws_sdk_lambda::types::Architecture;
use support::*;

const IMAGE: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1";
/// A port nothing listens on: a call that reached it would end in a network error
/// (exit 3), not in the credentials error these tests expect.
const NOWHERE: &str = "http://127.0.0.1:9";

/// A temporary HOME with `~/.aws/config` holding `config`.
fn home(config: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(unique("home"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join(".aws")).unwrap();
    std::fs::write(dir.join(".aws/config"), config).unwrap();
    dir
}

/// The binary with HOME and the AWS files in `home`, instance metadata off, and only
/// the environment given: none of the credentials tests/support sets.
fn command(home: &Path, env: &[(&str, &str)], args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ecr-lambda"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("AWS_CONFIG_FILE", home.join(".aws/config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join(".aws/credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().copied())
        .args(args);
    cmd
}

fn run_in(home: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    command(home, env, args).output().expect("run ecr-lambda")
}

/// Nothing the SDK logs, and none of its debug dumps.
fn assert_no_sdk_lines(out: &Output) {
    let err = stderr(out);
    for needle in [
        "WARN",
        "aws_config",
        "aws_smithy",
        "ProviderError(",
        "Response {",
    ] {
        assert!(!err.contains(needle), "stderr holds {needle:?}:\n{err}");
    }
}

/// Exit 4, kind `credentials` in JSON, the message and hint holding the pieces given,
/// and never the network hint.
fn assert_credentials_error(out: &Output, message: &[&str], hint: &[&str]) -> serde_json::Value {
    assert_eq!(code(out), 4, "{}", stderr(out));
    assert_no_sdk_lines(out);
    let doc = json(out);
    let error = &doc["error"];
    assert_eq!(error["kind"], "credentials", "{doc}");
    assert_eq!(error["exit_code"], 4, "{doc}");
    let text = error["message"].as_str().unwrap();
    for m in message {
        assert!(text.contains(m), "message lacks {m:?}: {text}");
    }
    let said = error["hint"].as_str().unwrap();
    for h in hint {
        assert!(said.contains(h), "hint lacks {h:?}: {said}");
    }
    assert!(
        !stderr(out).contains("check the network"),
        "{}",
        stderr(out)
    );
    doc
}

#[test]
fn no_credentials_anywhere_names_where_it_looked_and_the_usual_fixes() {
    let home = home("");
    let out = run_in(
        &home,
        &[],
        &[
            "--endpoint-url",
            NOWHERE,
            "check",
            IMAGE,
            "--output",
            "json",
        ],
    );
    let doc = assert_credentials_error(
        &out,
        &[
            "no AWS credentials found",
            "the environment",
            "profile default",
            ".aws/config",
            "instance metadata",
        ],
        &["aws configure", "aws sso login", "--profile"],
    );
    // Text output: the same error on stderr, nothing on stdout.
    let text = run_in(&home, &[], &["--endpoint-url", NOWHERE, "check", IMAGE]);
    assert_eq!(code(&text), 4);
    assert!(text.stdout.is_empty());
    assert!(
        stderr(&text).starts_with(&format!(
            "ecr-lambda: error: {}",
            doc["error"]["message"].as_str().unwrap()
        )),
        "{}",
        stderr(&text)
    );
    assert_no_sdk_lines(&text);
}

#[test]
fn a_profile_that_does_not_exist_is_named_with_the_files_read() {
    let home = home(
        "[profile dev]\nregion = us-east-1\naws_access_key_id = a\naws_secret_access_key = b\n",
    );
    let args = [
        "--endpoint-url",
        NOWHERE,
        "check",
        IMAGE,
        "--output",
        "json",
    ];
    let out = run_in(&home, &[("AWS_PROFILE", "nope")], &args);
    let config = home.join(".aws/config").display().to_string();
    assert_credentials_error(
        &out,
        &[
            "the config profile (nope) could not be found",
            "AWS_PROFILE",
            &config,
        ],
        &["dev"],
    );
    let mut flagged = vec!["--profile", "nope"];
    flagged.extend_from_slice(&args);
    let out = run_in(&home, &[], &flagged);
    assert_credentials_error(&out, &["(nope)", "--profile"], &["dev"]);
}

#[test]
fn a_source_profile_that_does_not_exist_is_named() {
    let home =
        home("[profile dev]\nrole_arn = arn:aws:iam::123456789012:role/r\nsource_profile = gone\n");
    let out = run_in(
        &home,
        &[],
        &[
            "--profile",
            "dev",
            "--endpoint-url",
            NOWHERE,
            "check",
            IMAGE,
            "--output",
            "json",
        ],
    );
    assert_credentials_error(&out, &["the config profile (gone) could not be found"], &[]);
}

const SSO_PROFILE: &str = "[profile dev]\nsso_session = corp\nsso_account_id = 123456789012\n\
sso_role_name = Deployer\nregion = us-east-1\n\n[sso-session corp]\n\
sso_start_url = https://corp.awsapps.com/start\nsso_region = us-east-1\n";

/// The SSO token cache file of session `corp`: its name is the SHA-1 of the session
/// name (botocore's and aws-config's rule), computed once.
const CORP_CACHE: &str = "ee0bfd2552fbd840c02cc48b6e823320543c450f.json";

fn sso_token(home: &Path, expires_at: &str) {
    let dir = home.join(".aws/sso/cache");
    std::fs::create_dir_all(&dir).unwrap();
    let token = serde_json::json!({
        "accessToken": "not-a-real-token",
        "expiresAt": expires_at,
        "region": "us-east-1",
        "startUrl": "https://corp.awsapps.com/start",
    });
    std::fs::write(dir.join(CORP_CACHE), token.to_string()).unwrap();
}

#[test]
fn an_sso_session_never_started_or_expired_says_to_log_in() {
    let home = home(SSO_PROFILE);
    let args = [
        "--profile",
        "dev",
        "--endpoint-url",
        NOWHERE,
        "check",
        IMAGE,
        "--output",
        "json",
    ];
    let never = run_in(&home, &[], &args);
    assert_credentials_error(
        &never,
        &["the SSO session for profile dev is missing or expired"],
        &["aws sso login --profile dev"],
    );
    sso_token(&home, "2020-01-01T00:00:00Z");
    let expired = run_in(&home, &[], &args);
    assert_credentials_error(
        &expired,
        &["the SSO session for profile dev is missing or expired"],
        &["aws sso login --profile dev"],
    );
}

/// Profile `dev` in `home`'s config: a `credential_process` that answers test
/// credentials (with `more_json` added to its answer) and appends a line to the file
/// returned at each run, so a test counts the runs; `more_config` follows in the profile.
fn counting_process(home: &Path, more_json: &str, more_config: &str) -> PathBuf {
    let count = home.join("runs");
    let program = script(
        home,
        "creds.sh",
        &format!(
            "echo run >> '{}'\necho '{{\"Version\": 1, \"AccessKeyId\": \"testing\", \
             \"SecretAccessKey\": \"testing\"{more_json}}}'",
            count.display()
        ),
    );
    std::fs::write(
        home.join(".aws/config"),
        format!("[profile dev]\ncredential_process = {program}\n{more_config}"),
    )
    .unwrap();
    count
}

/// A shell script in `home` (made executable): its path.
fn script(home: &Path, name: &str, body: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = home.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

#[test]
fn a_failing_credential_process_shows_the_program_its_status_and_stderr() {
    let home = home("");
    let program = script(
        &home,
        "creds.sh",
        "echo 'token expired, run corp-login' >&2\nexit 3",
    );
    std::fs::write(
        home.join(".aws/config"),
        format!("[profile dev]\ncredential_process = {program} --secret-arg s3cr3t\n"),
    )
    .unwrap();
    let out = run_in(
        &home,
        &[],
        &[
            "--profile",
            "dev",
            "--endpoint-url",
            NOWHERE,
            "check",
            IMAGE,
            "--output",
            "json",
        ],
    );
    assert_credentials_error(
        &out,
        &[
            "credential_process of profile dev",
            &program,
            "3",
            "token expired, run corp-login",
        ],
        &["by hand"],
    );
    // Its arguments may carry secrets: never shown.
    assert!(
        !stderr(&out).contains("s3cr3t")
            && !String::from_utf8_lossy(&out.stdout).contains("s3cr3t")
    );
}

#[test]
fn an_unreadable_web_identity_token_file_is_named() {
    let home = home("");
    let out = run_in(
        &home,
        &[
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/nonexistent/eks/token"),
            ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/web"),
            ("AWS_REGION", "us-east-1"),
        ],
        &[
            "--endpoint-url",
            NOWHERE,
            "check",
            IMAGE,
            "--output",
            "json",
        ],
    );
    assert_credentials_error(
        &out,
        &["the web identity token file /nonexistent/eks/token cannot be read"],
        &["AWS_WEB_IDENTITY_TOKEN_FILE"],
    );
}

/// A loopback HTTP server answering every request with `answer(request head and
/// body)`: (status line, content type, body). Its port and the requests it saw.
fn stand_in(
    answer: impl Fn(&str) -> (&'static str, &'static str, String) + Send + 'static,
) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let mut reader = BufReader::new(stream);
            let mut head = String::new();
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap_or(0);
                }
                let end = line == "\r\n";
                head.push_str(&line);
                if end {
                    break;
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let request = head + &String::from_utf8_lossy(&body);
            let (status, content_type, body) = answer(&request);
            log.lock().unwrap().push(request);
            let mut stream = reader.into_inner();
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, seen)
}

#[test]
fn an_assume_role_refused_names_the_role_and_sts_words() {
    let (port, seen) = stand_in(|_| {
        (
            "403 Forbidden",
            "text/xml",
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error>\
             <Type>Sender</Type><Code>AccessDenied</Code><Message>User: \
             arn:aws:iam::123456789012:user/dev is not authorized to perform: sts:AssumeRole \
             on resource: arn:aws:iam::123456789012:role/deployer</Message></Error>\
             <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ErrorResponse>"
                .into(),
        )
    });
    let home = home(
        "[profile dev]\nrole_arn = arn:aws:iam::123456789012:role/deployer\n\
         source_profile = base\nregion = us-east-1\n\n[profile base]\n\
         aws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = wJalrXUtnFEMI\n",
    );
    let sts = format!("http://127.0.0.1:{port}");
    let out = run_in(
        &home,
        &[("AWS_ENDPOINT_URL_STS", &sts), ("AWS_MAX_ATTEMPTS", "1")],
        &[
            "--profile",
            "dev",
            "--endpoint-url",
            NOWHERE,
            "check",
            IMAGE,
            "--output",
            "json",
        ],
    );
    assert_credentials_error(
        &out,
        &[
            "STS refused to assume the role arn:aws:iam::123456789012:role/deployer",
            "profile dev",
            "AccessDenied",
            "is not authorized to perform: sts:AssumeRole",
        ],
        &["trust policy"],
    );
    let requests = seen.lock().unwrap();
    assert!(
        requests.iter().any(|r| r.contains("Action=AssumeRole")),
        "STS was not asked: {requests:?}"
    );
    assert!(!stderr(&out).contains("wJalrXUtnFEMI"));
}

/// A repository with a ready image under `v1` in the emulator: the image URI.
async fn ready_image() -> String {
    let repo = unique("cred");
    create_repository(&repo, false).await;
    seed_manifest(&repo, Some("v1"), &load_case("docker-v2"), "root.json").await;
    uri(&repo, ":v1")
}

#[tokio::test]
async fn a_credential_process_that_works_is_run_once_for_a_whole_deploy() {
    let (_, function, _) = buildx_setup("buildx-single", "v1", Architecture::X8664).await;
    let image = ready_image().await;
    let home = home("");
    // Credentials that expire far ahead, as real ones do: the SDK's cache keeps them.
    let count = counting_process(
        &home,
        r#", "SessionToken": "t", "Expiration": "2099-01-01T00:00:00Z""#,
        "",
    );
    let endpoint = moto().endpoint();
    let out = run_in(
        &home,
        &[],
        &[
            "--profile",
            "dev",
            "--endpoint-url",
            &endpoint,
            "deploy",
            &image,
            "--function",
            &function,
            "--output",
            "json",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_no_sdk_lines(&out);
    assert_runs(&function, &load_case("docker-v2").root.digest).await;
    // ECR and Lambda calls, all signed with the one fetch made before the first call.
    let runs = std::fs::read_to_string(&count).unwrap();
    assert_eq!(runs.lines().count(), 1, "credential_process ran {runs:?}");
}

#[tokio::test]
async fn sso_with_a_cached_token_works_against_the_emulator() {
    let image = ready_image().await;
    let (port, seen) = stand_in(|request| {
        if request.starts_with("GET /federation/credentials")
            && request
                .to_ascii_lowercase()
                .contains("x-amz-sso_bearer_token: not-a-real-token")
        {
            (
                "200 OK",
                "application/json",
                serde_json::json!({"roleCredentials": {
                    "accessKeyId": "testing", "secretAccessKey": "testing",
                    "sessionToken": "t", "expiration": 4_070_908_800_000u64}})
                .to_string(),
            )
        } else {
            (
                "401 Unauthorized",
                "application/json",
                "{\"message\":\"Session token not found or invalid\"}".into(),
            )
        }
    });
    let home = home(SSO_PROFILE);
    sso_token(&home, "2099-01-01T00:00:00Z");
    let portal = format!("http://127.0.0.1:{port}");
    let endpoint = moto().endpoint();
    let out = run_in(
        &home,
        &[("AWS_ENDPOINT_URL_SSO", &portal)],
        &[
            "--profile",
            "dev",
            "--endpoint-url",
            &endpoint,
            "check",
            &image,
            "--output",
            "json",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_no_sdk_lines(&out);
    assert_eq!(json(&out)["lambda_ready"], true);
    let requests = seen.lock().unwrap();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert!(requests[0].contains("role_name=Deployer"), "{requests:?}");
}

#[test]
fn no_region_anywhere_is_one_error_without_sdk_lines() {
    let home = home("");
    let out = run_in(
        &home,
        &[
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
        ],
        &["--endpoint-url", NOWHERE, "check", "app:v1"],
    );
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert_no_sdk_lines(&out);
    assert!(
        stderr(&out).starts_with("ecr-lambda: error: no AWS region"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
}

#[test]
fn instance_metadata_is_not_asked_for_a_region_the_image_uri_gives() {
    // Instance metadata enabled, at a stand-in that counts what it is asked.
    let (port, seen) = stand_in(|_| ("404 Not Found", "text/plain", String::new()));
    let home = home("");
    let imds = format!("http://127.0.0.1:{port}");
    let env = [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_EC2_METADATA_DISABLED", "false"),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.as_str()),
    ];
    let out = run_in(&home, &env, &["--endpoint-url", NOWHERE, "check", IMAGE]);
    // The call itself goes nowhere (exit 3): the point is what was asked before it.
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        seen.lock().unwrap().is_empty(),
        "{:?}",
        seen.lock().unwrap()
    );
    // Without a region anywhere, it is the last place asked, and its failure is quiet.
    let out = run_in(&home, &env, &["--endpoint-url", NOWHERE, "check", "app:v1"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        !seen.lock().unwrap().is_empty(),
        "instance metadata was never asked"
    );
    assert_no_sdk_lines(&out);
}

#[test]
fn verbose_shows_the_sdk_warnings_default_does_not() {
    let home = home(SSO_PROFILE);
    let args = [
        "--profile",
        "dev",
        "--endpoint-url",
        NOWHERE,
        "check",
        IMAGE,
    ];
    let quiet = run_in(&home, &[], &args);
    assert_no_sdk_lines(&quiet);
    let mut verbose = vec!["-v"];
    verbose.extend_from_slice(&args);
    let loud = run_in(&home, &[], &verbose);
    assert_eq!(code(&loud), 4);
    assert!(stderr(&loud).contains("WARN"), "{}", stderr(&loud));
}

#[test]
fn a_transport_failure_alone_gets_the_network_hint() {
    let home = home("");
    let out = run_in(
        &home,
        &[
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_MAX_ATTEMPTS", "1"),
        ],
        &[
            "--endpoint-url",
            NOWHERE,
            "check",
            IMAGE,
            "--output",
            "json",
        ],
    );
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert_eq!(json(&out)["error"]["kind"], "network");
    assert!(
        stderr(&out).contains("check the network"),
        "{}",
        stderr(&out)
    );
    assert_no_sdk_lines(&out);
}

#[test]
fn whoami_names_the_identity_profile_and_regions_with_one_credential_fetch() {
    let home = home("");
    let count = counting_process(&home, "", "region = eu-west-1\n");
    let endpoint = moto().endpoint();
    let out = run_in(
        &home,
        &[],
        &[
            "--profile",
            "dev",
            "--endpoint-url",
            &endpoint,
            "whoami",
            IMAGE,
            "--output",
            "json",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_no_sdk_lines(&out);
    let doc = json(&out);
    assert_eq!(doc["account"], ACCOUNT, "{doc}");
    assert!(
        doc["arn"].as_str().unwrap().starts_with("arn:aws:"),
        "{doc}"
    );
    assert_eq!(doc["profile"], "dev");
    assert_eq!(doc["profile_from"], "flag");
    // The profile's region is the configured one; the image URI's is ECR's and Lambda's.
    assert_eq!(doc["region"], "eu-west-1");
    assert_eq!(doc["region_from"], "profile");
    assert_eq!(doc["ecr_region"], REGION);
    assert_eq!(doc["lambda_region"], REGION);
    let runs = std::fs::read_to_string(&count).unwrap();
    assert_eq!(runs.lines().count(), 1, "credential_process ran {runs:?}");
    // Without credentials it is the same error as any command's.
    let none = run_in(
        &home,
        &[],
        &[
            "--region",
            REGION,
            "--endpoint-url",
            NOWHERE,
            "whoami",
            "--output",
            "json",
        ],
    );
    assert_eq!(code(&none), 4, "{}", stderr(&none));
}

#[test]
fn an_sso_token_the_portal_refuses_says_to_log_in_again() {
    let (port, seen) = stand_in(|_| {
        (
            "401 Unauthorized",
            "application/json",
            "{\"__type\":\"UnauthorizedException\",\"message\":\"Session token not found or invalid\"}"
                .into(),
        )
    });
    let home = home(SSO_PROFILE);
    // Valid by its date, revoked at the portal (a sign-out elsewhere, say).
    sso_token(&home, "2099-01-01T00:00:00Z");
    let portal = format!("http://127.0.0.1:{port}");
    let out = run_in(
        &home,
        &[("AWS_ENDPOINT_URL_SSO", &portal), ("AWS_MAX_ATTEMPTS", "1")],
        &[
            "--profile",
            "dev",
            "--endpoint-url",
            NOWHERE,
            "check",
            IMAGE,
            "--output",
            "json",
        ],
    );
    assert_credentials_error(
        &out,
        &["the SSO session for profile dev is missing or expired"],
        &["aws sso login --profile dev"],
    );
    assert!(!seen.lock().unwrap().is_empty(), "the portal was not asked");
    assert!(
        !stderr(&out).contains("not-a-real-token"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_source_profile_loop_is_an_unusable_setup() {
    let home = home(
        "[profile a]\nrole_arn = arn:aws:iam::123456789012:role/a\nsource_profile = b\n\n\
         [profile b]\nrole_arn = arn:aws:iam::123456789012:role/b\nsource_profile = a\n",
    );
    let out = run_in(
        &home,
        &[],
        &[
            "--profile",
            "a",
            "--endpoint-url",
            NOWHERE,
            "check",
            IMAGE,
            "--output",
            "json",
        ],
    );
    assert_credentials_error(
        &out,
        &["the AWS config files cannot be used"],
        &["aws configure list"],
    );
}
