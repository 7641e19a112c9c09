use std::io::Write;

use clap::{CommandFactory, Parser};
use serde::Serialize;
use tracing_subscriber::filter::Targets;

use ecr_lambda::calls::CallStats;
use ecr_lambda::cli::{Cli, OutputFormat, Plan};
use ecr_lambda::error::AwsErrorKind;
use ecr_lambda::output::{ErrorBody, ErrorReport, Failures, ScanFinding, ScanWrite};
use ecr_lambda::{Error, ExitCode, Outcome, config, ops};

/// Logs never show credentials: the signer's own logs (canonical requests carry the
/// session token) are always off, whatever RUST_LOG says.
/// Applied whatever RUST_LOG says: no signing logs (they carry credentials).
const ALWAYS: &str = "aws_sigv4=off";

/// Never shown, whatever RUST_LOG says: the SDK's trace events that print whole
/// responses and outputs (GetDownloadUrlForLayer's is a pre-signed URL, a bearer
/// credential), and the HTTP stack's own trace events.
fn never_shown(meta: &tracing::Metadata<'_>) -> bool {
    *meta.level() == tracing::Level::TRACE
        && [
            "aws_smithy_runtime",
            "aws_smithy_http_client",
            "hyper",
            "hyper_util",
        ]
        .iter()
        .any(|t| meta.target() == *t || meta.target().starts_with(&format!("{t}::")))
}

fn init_logging(verbose: u8) {
    let filter = match verbose {
        0 => std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
        1 => "warn,ecr_lambda=debug".into(),
        _ => "info,ecr_lambda=trace,aws_config=debug,aws_smithy_runtime=debug".into(),
    };
    // `Targets` reads RUST_LOG's `target=level` directives without a regex engine
    // (EnvFilter's span and field directives pulled regex-automata into the binary:
    // BENCHMARKS.md, "Binary size").
    let filter: Targets = format!("{filter},{ALWAYS}")
        .parse()
        .unwrap_or_else(|_| format!("warn,{ALWAYS}").parse().expect("a valid filter"));
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(verbose > 1)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_filter(filter)
        .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
            !never_shown(meta)
        }));
    tracing_subscriber::registry().with(layer).init();
}

/// Writes the result to stdout; a closed pipe (`| head`) is not an error.
fn emit(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
}

fn render<R: Serialize + std::fmt::Display + Failures>(
    outcome: Outcome<R>,
    format: OutputFormat,
) -> ExitCode {
    // An error inside a report (what was written before it is the report's) is said on
    // stderr too, as an error that ends a command is.
    let mut said = String::new();
    for failure in outcome.report.failures() {
        said.push_str(&format!("ecr-lambda: error: {}\n", failure.message));
        if let Some(hint) = &failure.hint {
            said.push_str(&format!("  hint: {hint}\n"));
        }
    }
    let _ = std::io::stderr().write_all(said.as_bytes());
    let text = match format {
        OutputFormat::Json => {
            serde_json::to_string_pretty(&outcome.report).expect("reports serialise") + "\n"
        }
        OutputFormat::Jsonl => {
            serde_json::to_string(&outcome.report).expect("reports serialise") + "\n"
        }
        OutputFormat::Text => outcome.report.to_string(),
    };
    emit(&text);
    outcome.exit
}

fn report_error(err: &Error, format: OutputFormat) -> ExitCode {
    let exit = err.exit_code();
    let mut message = format!("ecr-lambda: error: {err}\n");
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        message.push_str(&format!("  caused by: {cause}\n"));
        source = cause.source();
    }
    if let Some(hint) = err.hint() {
        message.push_str(&format!("  hint: {hint}\n"));
    }
    let _ = std::io::stderr().write_all(message.as_bytes());
    if format != OutputFormat::Text {
        let doc = ErrorReport {
            error: ErrorBody {
                kind: err.kind(),
                message: err.to_string(),
                hint: err.hint(),
                exit_code: exit.code(),
            },
        };
        let doc = match format {
            OutputFormat::Jsonl => serde_json::to_string(&doc),
            _ => serde_json::to_string_pretty(&doc),
        };
        emit(&(doc.expect("errors serialise") + "\n"));
    }
    exit
}

/// One man page: the top-level page, then a section for each subcommand (its synopsis,
/// description and own options; the global options are in the top-level OPTIONS).
fn manpage() -> String {
    let mut cmd = Cli::command();
    cmd.build();
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut out)
        .expect("rendering to memory");
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let sub = sub
            .clone()
            .mut_args(|a| if a.is_global_set() { a.hide(true) } else { a });
        let name = sub.get_bin_name().unwrap_or(sub.get_name()).to_owned();
        let man = clap_mangen::Man::new(sub);
        let mut part = Vec::new();
        man.render_synopsis_section(&mut part)
            .and_then(|_| man.render_description_section(&mut part))
            .and_then(|_| man.render_options_section(&mut part))
            .expect("rendering to memory");
        // The subcommand's sections become subsections of its own section; the
        // preamble each render repeats (the Aq string) is defined once, at the top.
        out.extend_from_slice(format!(".SH \"{}\"\n", name.to_uppercase()).as_bytes());
        for line in String::from_utf8_lossy(&part).lines() {
            if line.starts_with(".ie \\n(.g .ds Aq") || line.starts_with(".el .ds Aq") {
                continue;
            }
            let line = line
                .strip_prefix(".SH ")
                .map_or(line.to_owned(), |h| format!(".SS {h}"));
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn run(cli: &Cli, plan: Plan, calls: &CallStats) -> Result<ExitCode, Error> {
    let format = cli.aws.output;
    if let Plan::Completions(shell) = plan {
        let mut out = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "ecr-lambda", &mut out);
        emit(&String::from_utf8_lossy(&out));
        return Ok(ExitCode::Success);
    }
    if let Plan::Manpage = plan {
        emit(&manpage());
        return Ok(ExitCode::Success);
    }
    let clients = config::clients(&cli.aws.options(), &plan.regions(), calls).await?;
    let endpoint_url = cli.aws.endpoint_url.clone();
    let run = async {
        Ok::<_, Error>(match plan {
            Plan::Check(req) => render(ops::check(&clients, &req).await?, format),
            Plan::Fix(req) => render(ops::fix(&clients, &req).await?, format),
            Plan::Deploy(req) => render(ops::deploy(&clients, &req).await?, format),
            Plan::Rollback(req) => render(ops::rollback(&clients, &req).await?, format),
            Plan::Release(req) => render(ops::release(&clients, &req).await?, format),
            Plan::Scan { request, yes } => run_scan(&clients, &request, yes, format).await?,
            Plan::Completions(_) | Plan::Manpage => unreachable!("handled above"),
        })
    };
    // A call that got no answer, or none in time, names the endpoint it waited on.
    run.await.map_err(|err| match err {
        Error::Aws(e) if matches!(e.kind, AwsErrorKind::Timeout | AwsErrorKind::Network) => {
            let service = match ecr_lambda::error::service_of(e.operation) {
                "cloudwatch" => "monitoring",
                other => other,
            };
            let endpoint = clients.endpoint(service, endpoint_url.as_deref());
            let hint = match e.kind {
                AwsErrorKind::Timeout => format!(
                    "{endpoint} did not answer within the read timeout ({} s an attempt, {} s \
                     a call with its retries); check the network, or raise --read-timeout",
                    cli.aws.read_timeout,
                    cli.aws.read_timeout * 2
                ),
                _ => format!(
                    "no answer from {endpoint}: check the network, the region (--region) and \
                     --endpoint-url"
                ),
            };
            Error::Aws(e.with_hint(hint))
        }
        other => other,
    })
}

async fn run_scan(
    clients: &ops::Clients,
    request: &ops::ScanRequest,
    yes: bool,
    format: OutputFormat,
) -> Result<ExitCode, Error> {
    // jsonl: each finding goes out as soon as it is found.
    let mut on_finding = |finding: &ScanFinding| {
        if format == OutputFormat::Jsonl {
            emit(&(serde_json::to_string(finding).expect("findings serialise") + "\n"));
        }
    };
    let mut confirm = |writes: &[ScanWrite]| {
        let mut plan = format!("scan --fix would write {} tag(s):\n", writes.len());
        for w in writes {
            plan.push_str(&format!(
                "  {}:{} -> {} ({})\n",
                w.repository, w.tag, w.written_tag, w.target
            ));
        }
        let _ = std::io::stderr().write_all(plan.as_bytes());
        if yes {
            return true;
        }
        let _ = std::io::stderr().write_all(b"write them? [y/N] ");
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer).is_ok()
            && matches!(answer.trim(), "y" | "Y" | "yes")
    };
    let outcome = ops::scan(clients, request, &mut on_finding, &mut confirm).await?;
    if format == OutputFormat::Jsonl {
        let r = &outcome.report;
        let summary = serde_json::json!({
            "kind": "summary",
            "repositories": r.repositories, "tags": r.tags, "ready": r.ready,
            "fixable": r.fixable, "not_fixable": r.not_fixable, "functions": r.functions,
            "findings": r.findings.len(), "remaining": r.remaining,
            "fixed": r.fixed, "unreadable": r.unreadable,
        });
        emit(&(summary.to_string() + "\n"));
        return Ok(outcome.exit);
    }
    Ok(render(outcome, format))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cli = Cli::parse();
    init_logging(cli.aws.verbose);
    ecr_lambda::interrupt::install();
    let format = cli.aws.output;
    let calls = CallStats::default();
    let exit = match cli.command.plan(format) {
        Ok(plan) => match run(&cli, plan, &calls).await {
            Ok(exit) => exit,
            Err(err) => report_error(&err, format),
        },
        Err(err) => report_error(&err, format),
    };
    tracing::debug!("{calls}");
    std::process::exit(exit.code());
}
