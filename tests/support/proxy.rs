//! A fault-injecting, latency-adding, call-counting HTTP proxy between the binary and
//! the moto server. The binary reaches it through `--endpoint-url`.
//!
//! Each request is named by its AWS operation (`X-Amz-Target` for ECR's JSON
//! protocol; method and path for Lambda's REST protocol), logged, and then either
//! forwarded or answered with the fault scripted for it. Every wait is bounded.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The longest any scripted wait lasts, so no test can hang on the proxy.
const MAX_HOLD: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub enum Fault {
    /// Answer with this HTTP status and a short body; the request never reaches moto.
    Status(u16),
    /// The protocol's throttling error (ECR: 400 ThrottlingException; Lambda: 429
    /// TooManyRequestsException).
    Throttle,
    /// Close the connection without answering; the request never reaches the server.
    Drop,
    /// Forward the request, then close the connection without passing the answer on:
    /// the write happened, and the caller never hears of it.
    LoseAnswer,
    /// Replace `from` with `to` in the request body before forwarding (bytes changed
    /// in flight, say).
    RewriteRequest { from: String, to: String },
    /// Forward after this delay.
    Delay(Duration),
    /// Hold the connection open without answering, then close it.
    Hang(Duration),
    /// Answer with this status and JSON body instead of forwarding.
    Respond { status: u16, body: String },
    /// Forward, then replace `from` with `to` in the response's body and header values.
    Rewrite { from: String, to: String },
    /// Answer with this status when the request body contains the text (one PutImage
    /// among several, say); forward otherwise.
    StatusIfBodyHas(String, u16),
    /// Run this first (someone else's change, say), then forward.
    Before(Arc<dyn Fn() + Send + Sync>),
}

#[derive(Clone)]
struct Rule {
    operation: String,
    /// 1-based occurrence of the operation; `None` for every occurrence.
    nth: Option<usize>,
    fault: Fault,
}

/// One request as the proxy saw it, with times since the proxy started.
#[derive(Clone, Debug)]
pub struct Call {
    pub operation: String,
    pub start: Duration,
    pub end: Duration,
    /// Time spent waiting for moto (its own work), not counting injected latency.
    pub upstream: Duration,
}

/// What one request asked for, as IAM sees it: the action and the resource ARN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Access {
    /// `lambda:GetFunction`, `ecr:PutImage`, `cloudwatch:DescribeAlarms`.
    pub action: String,
    /// The resource's ARN, `*` for actions on no resource (ListFunctions, say).
    pub resource: String,
}

#[derive(Default)]
struct State {
    log: Vec<String>,
    accesses: Vec<Access>,
    calls: Vec<Call>,
    seen: HashMap<String, usize>,
    rules: Vec<Rule>,
}

#[derive(Clone)]
pub struct Proxy {
    pub port: u16,
    upstream: u16,
    latency: Duration,
    state: Arc<Mutex<State>>,
    stopped: Arc<AtomicBool>,
    started: Instant,
}

impl Proxy {
    /// Starts a proxy on a free loopback port in front of `127.0.0.1:upstream`, adding
    /// `latency` to every request (half before forwarding, half after).
    pub fn start(upstream: u16, latency: Duration) -> Proxy {
        Proxy::start_on(0, upstream, latency)
    }

    pub fn start_on(port: u16, upstream: u16, latency: Duration) -> Proxy {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the proxy");
        let proxy = Proxy {
            port: listener.local_addr().unwrap().port(),
            upstream,
            latency,
            state: Arc::default(),
            stopped: Arc::default(),
            started: Instant::now(),
        };
        let accepting = proxy.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                if accepting.stopped.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let handler = accepting.clone();
                thread::spawn(move || {
                    let _ = handler.serve(stream);
                });
            }
        });
        proxy
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Scripts `fault` for the `nth` (1-based) occurrence of `operation`, counted from
    /// now on; `None`: every occurrence.
    pub fn on(&self, operation: &str, nth: Option<usize>, fault: Fault) {
        let mut state = self.state.lock().unwrap();
        let already = state.seen.get(operation).copied().unwrap_or(0);
        state.rules.push(Rule {
            operation: operation.to_owned(),
            nth: nth.map(|n| n + already),
            fault,
        });
    }

    /// Every request's IAM action and resource, in order (blob GETs, pre-signed, have
    /// none).
    pub fn accesses(&self) -> Vec<Access> {
        self.state.lock().unwrap().accesses.clone()
    }

    pub fn clear_faults(&self) {
        self.state.lock().unwrap().rules.clear();
    }

    /// The operations seen so far, in order of arrival.
    pub fn log(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }

    pub fn clear_log(&self) {
        let mut state = self.state.lock().unwrap();
        state.log.clear();
        state.calls.clear();
    }

    /// The requests answered since the log was last cleared, with their times.
    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }

    /// The longest run of requests each of which started after the previous one
    /// ended: the round trips a run had to wait for one after another.
    pub fn sequential_chain(&self) -> Vec<Call> {
        let mut calls = self.calls();
        calls.sort_by_key(|c| c.end);
        let mut chain: Vec<Call> = Vec::new();
        for call in calls {
            if chain.last().is_none_or(|last| call.start >= last.end) {
                chain.push(call);
            }
        }
        chain
    }

    /// How many times each operation was seen since the log was last cleared.
    pub fn counts(&self) -> std::collections::BTreeMap<String, usize> {
        let mut counts = std::collections::BTreeMap::new();
        for op in self.log() {
            *counts.entry(op).or_insert(0) += 1;
        }
        counts
    }

    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }

    fn fault_for(&self, operation: &str) -> Option<Fault> {
        let mut state = self.state.lock().unwrap();
        state.log.push(operation.to_owned());
        let n = {
            let seen = state.seen.entry(operation.to_owned()).or_insert(0);
            *seen += 1;
            *seen
        };
        state
            .rules
            .iter()
            .find(|r| r.operation == operation && r.nth.is_none_or(|nth| nth == n))
            .map(|r| r.fault.clone())
    }

    fn serve(&self, mut client: TcpStream) -> io::Result<()> {
        client.set_read_timeout(Some(MAX_HOLD))?;
        let request = read_request(&mut client)?;
        let start = self.started.elapsed();
        if let Some(answer) = self.control(&request) {
            client.write_all(&answer.to_bytes())?;
            return Ok(());
        }
        let operation = operation_of(&request);
        let accesses = access_of(&request, &operation);
        self.state.lock().unwrap().accesses.extend(accesses);
        let fault = self.fault_for(&operation);
        let is_lambda = request.header("x-amz-target").is_none_or(str::is_empty);
        thread::sleep(self.latency / 2);
        let response = match fault {
            Some(Fault::Status(status)) => {
                synthetic(status, &[], r#"{"message":"injected by the test proxy"}"#)
            }
            Some(Fault::Throttle) if is_lambda => synthetic(
                429,
                &[("x-amzn-ErrorType", "TooManyRequestsException")],
                r#"{"Type":"User","message":"Rate exceeded","Reason":"CallerRateLimitExceeded"}"#,
            ),
            Some(Fault::Throttle) => synthetic(
                400,
                &[],
                r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
            ),
            Some(Fault::Drop) => {
                let _ = client.shutdown(Shutdown::Both);
                return Ok(());
            }
            Some(Fault::LoseAnswer) => {
                let _ = self.forward(&request);
                let _ = client.shutdown(Shutdown::Both);
                return Ok(());
            }
            Some(Fault::RewriteRequest { from, to }) => {
                let mut changed = request.clone();
                changed.body = String::from_utf8_lossy(&request.body)
                    .replace(&from, &to)
                    .into_bytes();
                self.forward(&changed)?
            }
            Some(Fault::Hang(d)) => {
                thread::sleep(d.min(MAX_HOLD));
                let _ = client.shutdown(Shutdown::Both);
                return Ok(());
            }
            Some(Fault::Respond { status, body }) => synthetic(status, &[], &body),
            Some(Fault::Delay(d)) => {
                thread::sleep(d.min(MAX_HOLD));
                self.forward(&request)?
            }
            Some(Fault::StatusIfBodyHas(text, status))
                if String::from_utf8_lossy(&request.body).contains(&text) =>
            {
                synthetic(status, &[], r#"{"message":"injected by the test proxy"}"#)
            }
            Some(Fault::StatusIfBodyHas(..)) => self.forward(&request)?,
            Some(Fault::Before(hook)) => {
                hook();
                self.forward(&request)?
            }
            Some(Fault::Rewrite { from, to }) => {
                let mut response = self.forward(&request)?;
                let body = String::from_utf8_lossy(&response.body).replace(&from, &to);
                response.body = body.into_bytes();
                for (_, value) in &mut response.headers {
                    *value = value.replace(&from, &to);
                }
                response
            }
            None => self.forward(&request)?,
        };
        // Blob URLs point at the emulator itself; through the proxy, their GETs are
        // counted and can be faulted like any call.
        let response = if operation == "GetDownloadUrlForLayer" {
            let mut response = response;
            response.body = String::from_utf8_lossy(&response.body)
                .replace(
                    &format!("127.0.0.1:{}", self.upstream),
                    &format!("127.0.0.1:{}", self.port),
                )
                .into_bytes();
            response
        } else {
            response
        };
        thread::sleep(self.latency / 2);
        client.write_all(&response.to_bytes())?;
        client.flush()?;
        let _ = client.shutdown(Shutdown::Both);
        self.state.lock().unwrap().calls.push(Call {
            operation,
            start,
            end: self.started.elapsed(),
            upstream: response.upstream,
        });
        Ok(())
    }

    /// `GET /__proxy/calls` (the log as JSON lines) and `POST /__proxy/clear`, for a
    /// proxy running in another process (the benchmark's).
    fn control(&self, request: &Message) -> Option<Message> {
        let path = request.start.split_whitespace().nth(1)?;
        match path {
            "/__proxy/calls" => {
                let mut body = String::new();
                for c in self.calls() {
                    body.push_str(&format!(
                        "{{\"operation\":\"{}\",\"start\":{},\"end\":{},\"upstream\":{}}}\n",
                        c.operation,
                        c.start.as_secs_f64(),
                        c.end.as_secs_f64(),
                        c.upstream.as_secs_f64()
                    ));
                }
                Some(synthetic(200, &[], &body))
            }
            "/__proxy/clear" => {
                self.clear_log();
                Some(synthetic(200, &[], "{}"))
            }
            _ => None,
        }
    }

    fn forward(&self, request: &Message) -> io::Result<Message> {
        let sent = Instant::now();
        let mut upstream = TcpStream::connect(("127.0.0.1", self.upstream))?;
        upstream.set_read_timeout(Some(MAX_HOLD))?;
        upstream.write_all(&request.to_bytes())?;
        let mut raw = Vec::new();
        upstream.read_to_end(&mut raw)?;
        let mut message = parse_message(&raw)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad upstream response"))?;
        message.upstream = sent.elapsed();
        Ok(message)
    }
}

/// An HTTP/1.1 message: start line, headers, body. Always sent with
/// `Connection: close` and an exact `Content-Length`.
#[derive(Clone, Debug)]
struct Message {
    start: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// For a forwarded response: how long moto took.
    upstream: Duration,
}

impl Message {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{}\r\n", self.start);
        for (name, value) in &self.headers {
            if [
                "connection",
                "content-length",
                "transfer-encoding",
                "keep-alive",
            ]
            .iter()
            .any(|h| name.eq_ignore_ascii_case(h))
            {
                continue;
            }
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.body.len()
        ));
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

fn synthetic(status: u16, headers: &[(&str, &str)], body: &str) -> Message {
    let mut all = vec![("Content-Type".to_owned(), "application/json".to_owned())];
    all.extend(
        headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
    );
    Message {
        start: format!("HTTP/1.1 {status} Injected"),
        headers: all,
        body: body.as_bytes().to_vec(),
        upstream: Duration::ZERO,
    }
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n")
}

fn parse_head(head: &str) -> (String, Vec<(String, String)>) {
    let mut lines = head.split("\r\n");
    let start = lines.next().unwrap_or_default().to_owned();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    (start, headers)
}

fn read_request(stream: &mut TcpStream) -> io::Result<Message> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    let head_end = loop {
        if let Some(end) = find_head_end(&buf) {
            break end;
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let (start, headers) = parse_head(&String::from_utf8_lossy(&buf[..head_end]));
    let mut message = Message {
        start,
        headers,
        body: buf[head_end + 4..].to_vec(),
        upstream: Duration::ZERO,
    };
    let length: usize = message
        .header("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    while message.body.len() < length {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        message.body.extend_from_slice(&chunk[..n]);
    }
    Ok(message)
}

/// Parses a whole response (read until the upstream closed), chunked or not.
fn parse_message(raw: &[u8]) -> Option<Message> {
    let head_end = find_head_end(raw)?;
    let (start, headers) = parse_head(&String::from_utf8_lossy(&raw[..head_end]));
    let mut message = Message {
        start,
        headers,
        body: raw[head_end + 4..].to_vec(),
        upstream: Duration::ZERO,
    };
    if message
        .header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        message.body = dechunk(&message.body)?;
    } else if let Some(len) = message
        .header("content-length")
        .and_then(|l| l.parse::<usize>().ok())
    {
        message.body.truncate(len);
    }
    Some(message)
}

fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&body[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(body.get(..size)?);
        body = body.get(size + 2..)?;
    }
}

/// The AWS operation a request calls.
fn operation_of(request: &Message) -> String {
    if let Some(target) = request.header("x-amz-target") {
        return target.rsplit('.').next().unwrap_or(target).to_owned();
    }
    let mut parts = request.start.split_whitespace();
    let method = parts.next().unwrap_or_default();
    let path = parts.next().unwrap_or_default();
    let path = path.split('?').next().unwrap_or_default();
    // A pre-signed blob URL of the emulator (GetDownloadUrlForLayer's answer).
    if path.starts_with("/_emulator/blobs/") {
        return "GetBlob".into();
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        ("GET", [_, "functions"]) => "ListFunctions".into(),
        ("GET", [_, "functions", _]) => "GetFunction".into(),
        ("GET", [_, "functions", _, "configuration"]) => "GetFunctionConfiguration".into(),
        ("PUT", [_, "functions", _, "code"]) => "UpdateFunctionCode".into(),
        ("POST", [_, "functions", _, "versions"]) => "PublishVersion".into(),
        ("GET", [_, "functions", _, "versions"]) => "ListVersionsByFunction".into(),
        ("GET", [_, "functions", _, "aliases", _]) => "GetAlias".into(),
        ("GET", [_, "functions", _, "aliases"]) => "ListAliases".into(),
        ("DELETE", [_, "functions", _]) => "DeleteFunction".into(),
        ("POST", [_, "functions", _, "aliases"]) => "CreateAlias".into(),
        ("PUT", [_, "functions", _, "aliases", _]) => "UpdateAlias".into(),
        ("POST", [_, "functions"]) => "CreateFunction".into(),
        ("POST", [_, "functions", _, "invocations"]) => "Invoke".into(),
        ("POST", ["service", _, "operation", op]) => (*op).to_owned(),
        _ => format!("{method} {path}"),
    }
}

/// The region a SigV4-signed request was signed for (its credential scope).
fn signed_region(request: &Message) -> String {
    request
        .header("authorization")
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(2))
        .unwrap_or("us-east-1")
        .to_owned()
}

fn decode(s: &str) -> String {
    let mut out = Vec::new();
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The IAM actions and resource ARNs of a request: ECR's repository from the JSON
/// body, Lambda's function (and qualifier) from the path, CloudWatch's alarms from
/// the CBOR body's `AlarmNames` (one access per alarm; `*` when it names none).
fn access_of(request: &Message, operation: &str) -> Vec<Access> {
    access_of_one(request, operation)
        .map(|access| {
            let names = if access.action == "cloudwatch:DescribeAlarms" {
                cbor_text_list(&request.body, "AlarmNames")
            } else {
                Vec::new()
            };
            if names.is_empty() {
                return vec![access];
            }
            let region = signed_region(request);
            names
                .into_iter()
                .map(|name| Access {
                    action: access.action.clone(),
                    resource: format!("arn:aws:cloudwatch:{region}:123456789012:alarm:{name}"),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The text strings of the array under `key` in a CBOR map (Smithy RPC v2 CBOR, as
/// aws-sdk-cloudwatch encodes requests: definite or indefinite lengths, short heads).
fn cbor_text_list(body: &[u8], key: &str) -> Vec<String> {
    // A head's argument: (value, bytes used), for the lengths a request uses.
    fn head(bytes: &[u8]) -> Option<(u8, Option<usize>, usize)> {
        let first = *bytes.first()?;
        let (major, info) = (first >> 5, first & 0x1f);
        match info {
            0..=23 => Some((major, Some(usize::from(info)), 1)),
            24 => Some((major, Some(usize::from(*bytes.get(1)?)), 2)),
            25 => Some((
                major,
                Some(usize::from(u16::from_be_bytes([
                    *bytes.get(1)?,
                    *bytes.get(2)?,
                ]))),
                3,
            )),
            31 => Some((major, None, 1)),
            _ => None,
        }
    }
    let mut wanted = vec![0x60 | key.len() as u8];
    wanted.extend_from_slice(key.as_bytes());
    let Some(at) = body
        .windows(wanted.len())
        .position(|w| w == wanted.as_slice())
    else {
        return Vec::new();
    };
    let mut i = at + wanted.len();
    let Some((4, count, used)) = head(&body[i..]) else {
        return Vec::new();
    };
    i += used;
    let mut names = Vec::new();
    while count.is_none_or(|n| names.len() < n) {
        if body.get(i) == Some(&0xff) {
            break;
        }
        let Some((3, Some(len), used)) = head(&body[i.min(body.len())..]) else {
            break;
        };
        i += used;
        let Some(text) = body.get(i..i + len) else {
            break;
        };
        names.push(String::from_utf8_lossy(text).into_owned());
        i += len;
    }
    names
}

fn access_of_one(request: &Message, operation: &str) -> Option<Access> {
    const ACCOUNT: &str = "123456789012";
    let region = signed_region(request);
    if request.header("x-amz-target").is_some() {
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let resource = match body["repositoryName"].as_str() {
            Some(repo) => format!(
                "arn:aws:ecr:{region}:{}:repository/{repo}",
                body["registryId"].as_str().unwrap_or(ACCOUNT)
            ),
            None => "*".to_owned(),
        };
        return Some(Access {
            action: format!("ecr:{operation}"),
            resource,
        });
    }
    let mut parts = request.start.split_whitespace();
    let _method = parts.next();
    let target = parts.next().unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path.starts_with("/_emulator/") {
        return None;
    }
    if path.starts_with("/service/") {
        return Some(Access {
            action: format!("cloudwatch:{operation}"),
            resource: "*".to_owned(),
        });
    }
    let segments: Vec<String> = path.trim_matches('/').split('/').map(decode).collect();
    let action = match operation {
        "Invoke" => "lambda:InvokeFunction".to_owned(),
        op => format!("lambda:{op}"),
    };
    let Some(function) = segments.get(2) else {
        return Some(Access {
            action,
            resource: "*".to_owned(),
        });
    };
    // A name, or an ARN already.
    let name = function.rsplit(':').next().unwrap_or(function);
    let qualifier = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("Qualifier="))
        .map(decode)
        .or_else(|| {
            // Alias operations name the alias in the path: its ARN is qualified.
            (segments.get(3).map(String::as_str) == Some("aliases"))
                .then(|| segments.get(4).cloned())
                .flatten()
        });
    let base = format!("arn:aws:lambda:{region}:{ACCOUNT}:function:{name}");
    Some(Access {
        action,
        resource: match qualifier {
            Some(q) => format!("{base}:{q}"),
            None => base,
        },
    })
}
