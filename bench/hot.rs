//! The two hot paths of the library, timed under the release profile the binary is
//! built with (`[profile.release]` in Cargo.toml, per-package overrides included),
//! so that a profile change shows what it costs in speed, not only in size:
//!
//! - sha256 of a 64 MiB blob (`Digest::sha256_of`, the one place bytes are checked
//!   against the digest that names them);
//! - parsing an OCI index of 1,000 entries (`RawManifest::parse`, serde_json).
//!
//! ```text
//! cargo build --release --example hot && target/release/examples/hot [ROUNDS]
//! ```
//!
//! Prints the median and the range over ROUNDS (default 15) of each, as one line each:
//! time on the CPU (Linux), else wall time.
//! `bench/size.py` runs it for every build it compares.

use std::time::Instant;

use ecr_lambda::digest::Digest;
use ecr_lambda::manifest::model::RawManifest;

const BLOB_BYTES: usize = 64 << 20;
const INDEX_ENTRIES: usize = 1_000;
const PARSES_PER_ROUND: usize = 50;

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse().expect("ROUNDS is a number"))
        .unwrap_or(15);

    // Not all zeros, so no hash of a constant stream is special-cased anywhere.
    let blob: Vec<u8> = (0..BLOB_BYTES)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut last = String::new();
    let hash = timed(rounds, || {
        last = Digest::sha256_of(&blob).to_string();
    });
    let mib = (BLOB_BYTES >> 20) as f64;
    println!(
        "sha256 64 MiB: median {:.1} ms ({:.1}-{:.1}), {:.0} MiB/s ({last})",
        hash.0 * 1e3,
        hash.1 * 1e3,
        hash.2 * 1e3,
        mib / hash.0
    );

    let index = index(INDEX_ENTRIES);
    let raw = RawManifest::new(
        index.clone(),
        Digest::sha256_of(index.as_bytes()),
        "application/vnd.oci.image.index.v1+json".into(),
    );
    let parse = timed(rounds, || {
        for _ in 0..PARSES_PER_ROUND {
            std::hint::black_box(raw.parse().expect("the index parses"));
        }
    });
    let per = |s: f64| s * 1e6 / PARSES_PER_ROUND as f64;
    println!(
        "parse index of {INDEX_ENTRIES} entries ({} bytes): median {:.0} us ({:.0}-{:.0}), {:.0} MiB/s",
        index.len(),
        per(parse.0),
        per(parse.1),
        per(parse.2),
        (index.len() * PARSES_PER_ROUND) as f64 / (1 << 20) as f64 / parse.0
    );
}

/// Median, minimum and maximum seconds of `rounds` runs of `f`, after one warm-up run:
/// the time the thread spent on a CPU where Linux tells it (the first field of
/// /proc/thread-self/schedstat, in ns), so that other processes on a shared machine
/// do not count; the wall time elsewhere.
fn timed(rounds: usize, mut f: impl FnMut()) -> (f64, f64, f64) {
    f();
    let mut times: Vec<f64> = (0..rounds.max(1))
        .map(|_| {
            let (start, on_cpu) = (Instant::now(), on_cpu_ns());
            f();
            match (on_cpu, on_cpu_ns()) {
                (Some(before), Some(after)) => (after - before) as f64 / 1e9,
                _ => start.elapsed().as_secs_f64(),
            }
        })
        .collect();
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times[0], times[times.len() - 1])
}

fn on_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// An index the way buildx writes one for many platforms: an image entry and its
/// attestation entry (with BuildKit's annotations) per platform.
fn index(entries: usize) -> String {
    let entry = |i: usize| {
        let digest = format!("sha256:{:064x}", i);
        if i.is_multiple_of(2) {
            format!(
                r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{digest}","size":{},"platform":{{"architecture":"amd64","os":"linux","variant":"v{}"}}}}"#,
                700 + i,
                i
            )
        } else {
            format!(
                r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{digest}","size":{},"annotations":{{"vnd.docker.reference.digest":"sha256:{:064x}","vnd.docker.reference.type":"attestation-manifest"}},"platform":{{"architecture":"unknown","os":"unknown"}}}}"#,
                600 + i,
                i - 1
            )
        }
    };
    let manifests: Vec<String> = (0..entries).map(entry).collect();
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{}]}}"#,
        manifests.join(",")
    )
}
