use std::io::Write;

use clap::{CommandFactory, Parser};
use serde::Serialize;
use tracing_subscriber::filter::Targets;

use ecr_lambda::calls::CallStats;
use ecr_lambda::cli::{Cli, OutputFormat, Plan};
use ecr_lambda::error::AwsErrorKind;
use ecr_lambda::output::{
    ErrorBody, ErrorReport, Failures, ScanFinding, ScanWrite, WhoamiReport, to_json,
};
use ecr_lambda::text::Safe;
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
        // The tool's own warnings only: the SDK's (a credential provider that found
        // nothing, an instance-metadata region probe off EC2) would send a newcomer the
        // wrong way, and the error that follows says what matters. `-v` shows them.
        0 => std::env::var("RUST_LOG").unwrap_or_else(|_| "off,ecr_lambda=warn".into()),
        1 => "warn,ecr_lambda=debug".into(),
        _ => "info,ecr_lambda=trace,aws_config=debug,aws_smithy_runtime=debug".into(),
    };
    // `Targets` reads RUST_LOG's `target=level` directives without a regex engine
    // (EnvFilter's span and field directives pulled regex-automata into the binary:
    // BENCHMARKS.md, "Binary size").
    let filter: Targets = format!("{filter},{ALWAYS}").parse().unwrap_or_else(|_| {
        format!("off,ecr_lambda=warn,{ALWAYS}")
            .parse()
            .expect("a valid filter")
    });
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
        said.push_str(&format!("ecr-lambda: error: {}\n", Safe(&failure.message)));
        if let Some(hint) = &failure.hint {
            said.push_str(&format!("  hint: {}\n", Safe(hint)));
        }
    }
    let _ = std::io::stderr().write_all(said.as_bytes());
    let text = match format {
        OutputFormat::Json => to_json(&outcome.report, true).expect("reports serialise") + "\n",
        OutputFormat::Jsonl => to_json(&outcome.report, false).expect("reports serialise") + "\n",
        OutputFormat::Text => outcome.report.to_string(),
    };
    emit(&text);
    outcome.exit
}

fn report_error(err: &Error, format: OutputFormat) -> ExitCode {
    let exit = err.exit_code();
    // An error's text carries AWS's words and an image's: shown, never obeyed (the
    // JSON document below keeps them exact).
    let mut message = format!("ecr-lambda: error: {}\n", Safe(&err.to_string()));
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        message.push_str(&format!("  caused by: {}\n", Safe(&cause.to_string())));
        source = cause.source();
    }
    if let Some(hint) = err.hint() {
        message.push_str(&format!("  hint: {}\n", Safe(hint)));
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
            OutputFormat::Jsonl => to_json(&doc, false),
            _ => to_json(&doc, true),
        };
        emit(&(doc.expect("errors serialise") + "\n"));
    }
    exit
}

/// One man page: the top-level page, then a section for each subcommand, nested ones
/// included (`release status`), with its synopsis, description and own options; the
/// global options are in the top-level OPTIONS.
fn manpage() -> String {
    let mut cmd = Cli::command();
    cmd.build();
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut out)
        .expect("rendering to memory");
    manpage_sections(&cmd, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// A section for each subcommand of `cmd`, then for each of its own subcommands.
fn manpage_sections(cmd: &clap::Command, out: &mut Vec<u8>) {
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let sub = sub
            .clone()
            .mut_args(|a| if a.is_global_set() { a.hide(true) } else { a });
        let name = sub.get_bin_name().unwrap_or(sub.get_name()).to_owned();
        let man = clap_mangen::Man::new(sub.clone());
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
        manpage_sections(&sub, out);
    }
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
    if let Plan::Whoami(_) = plan {
        return whoami(cli, &plan, calls, format).await;
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
            Plan::Retain(req) => render(ops::retain(&clients, &req).await?, format),
            Plan::Prune(req) => render(ops::prune(&clients, &req).await?, format),
            Plan::Completions(_) | Plan::Manpage | Plan::Whoami(_) => {
                unreachable!("handled above")
            }
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

/// `whoami`: the setup every command makes, then STS's answer on who that is.
async fn whoami(
    cli: &Cli,
    plan: &Plan,
    calls: &CallStats,
    format: OutputFormat,
) -> Result<ExitCode, Error> {
    let options = cli.aws.options();
    let setup = config::setup(&options, &plan.regions()).await?;
    let identity = ecr_lambda::credentials::caller_identity(&setup.shared, calls).await?;
    let (profile, profile_from) = ecr_lambda::credentials::ProfileSource {
        flag: options.profile.clone(),
    }
    .selected();
    let (region, region_from) = setup.region.clone().unzip();
    let report = WhoamiReport {
        account: identity.account,
        arn: identity.arn,
        user_id: identity.user_id,
        profile,
        profile_from,
        region,
        region_from,
        ecr_region: setup.ecr_region,
        lambda_region: setup.lambda_region,
    };
    Ok(render(
        Outcome {
            report,
            exit: ExitCode::Success,
        },
        format,
    ))
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
            emit(&(to_json(finding, false).expect("findings serialise") + "\n"));
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
