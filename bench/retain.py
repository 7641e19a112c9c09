#!/usr/bin/env python3
"""`ecr-lambda retain --all-functions` at scale, against the local emulator, at fixed round trips.

    pip install "moto[server]==5.2.5"
    python3 bench/retain.py [--functions 200] [--versions 5] [--repositories 4]
                            [--rtt-ms 0,20] [--runs 3] [--binary target/release/ecr-lambda] [--no-build]

Starts the tests' emulator, seeds REPOSITORIES repositories, each with a lifecycle
policy (expire untagged images older than 14 days), and FUNCTIONS image functions
spread over them, each with VERSIONS published versions of distinct images (so
FUNCTIONS x VERSIONS images in use); seeding goes straight to the emulator. Then, for
each round trip of --rtt-ms, it starts the benchmark's proxy (bench/proxy, the tests'
own proxy, as bench/run.py does) adding that round trip to every request, and times
`retain --all-functions --output json` through it over RUNS runs.

It prints, per round trip: the wall time (median and every run); the calls per
operation, as the tool itself counted them (its `-v` call tally, retries included) and
checked against what the proxy saw; and the round-trip floor the way bench/run.py
takes it: the longest chain of calls in the proxy's log each of which started after
the previous one ended, times the round trip, plus the 1 s the tool waits before
reading a lifecycle preview again (the emulator answers IN_PROGRESS once); "+moto"
adds the emulator's own time on the calls of that chain.

The calls are bounded by design: one DescribeImages per 100 images in use per
repository, one lifecycle preview per repository (StartLifecyclePolicyPreview, then
GetLifecyclePolicyPreview until COMPLETE), one GetFunction per function and version,
one ListVersionsByFunction per 50 versions and one ListAliases per function. By the
order of the calls (src/ops/retain.rs, src/lambda/pins.rs) the critical path is
ListFunctions' pages one after another, then FUNCTIONS / 8 waves (8 functions at a
time) of two round trips each (GetFunction of $LATEST, ListVersionsByFunction and
ListAliases together, then the versions' GetFunction, 8 at a time), then per
repository, all repositories at once: DescribeImages' batches of 100 one after
another (GetLifecyclePolicy beside the first), the preview's start, its first read,
1 s, its second read. Printed as "by design"; with the defaults, 4 + 50 + 3 + 3 = 60
round trips and 1 s.
"""

import argparse
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import ACCOUNT, REGION, ROLE, ROOT, sequential_chain, sha256  # noqa: E402


class Emulator:
    """The tests' emulator on a port of its own, and boto3 clients straight to it."""

    def __init__(self):
        self.env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                        AWS_REGION=REGION, AWS_DEFAULT_REGION=REGION,
                        AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null",
                        AWS_EC2_METADATA_DISABLED="true")
        self.server = subprocess.Popen([sys.executable, "tests/support/emulator/server.py", "0"], cwd=ROOT,
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=self.env, text=True)
        self.port = int(self.server.stdout.readline())
        self.url = f"http://127.0.0.1:{self.port}"
        import boto3  # moto depends on it

        direct = dict(endpoint_url=self.url, region_name=REGION,
                      aws_access_key_id="testing", aws_secret_access_key="testing")
        self.ecr = boto3.client("ecr", **direct)
        self.lam = boto3.client("lambda", **direct)

    def emulator(self, path, body=None):
        request = urllib.request.Request(
            f"{self.url}/_emulator/{path}", method="GET" if body is None else "POST",
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request) as r:
            return json.loads(r.read())

    def close(self):
        self.server.stdin.close()
        self.server.wait(timeout=10)


class Proxy:
    """The benchmark's proxy (bench/proxy) in front of the emulator, adding `rtt_ms`."""

    def __init__(self, upstream_port, rtt_ms):
        binary = os.path.join(ROOT, "bench", "proxy", "target", "release", "bench-proxy")
        self.process = subprocess.Popen([binary, str(upstream_port), str(rtt_ms)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        self.url = f"http://127.0.0.1:{int(self.process.stdout.readline())}"

    def calls(self):
        with urllib.request.urlopen(self.url + "/__proxy/calls") as r:
            return [json.loads(line) for line in r.read().decode().splitlines() if line]

    def clear(self):
        urllib.request.urlopen(urllib.request.Request(self.url + "/__proxy/clear", method="POST")).read()

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=10)


PREVIEW_WAIT = 1.0  # the tool reads an IN_PROGRESS preview again 1 s later (src/ecr/retention.rs)
FUNCTIONS_AT_ONCE = 8  # retain's default --concurrency
LIST_PAGE = 50  # ListFunctions' page
DESCRIBE_BATCH = 100  # digests per DescribeImages, its batches one after another (src/ecr/retention.rs)


POLICY = json.dumps({"rules": [{"rulePriority": 1, "selection": {
    "tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 14},
    "action": {"type": "expire"}}]})


def image(repo, n):
    """A distinct single-platform manifest, and the blobs it names (the emulator, as
    ECR, refuses it until they are uploaded)."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "n": n}, separators=(",", ":"))
    layer = f"{repo} {n}"
    doc = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
           "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                      "size": len(config), "digest": sha256(config)},
           "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                       "size": len(layer), "digest": sha256(layer)}]}
    text = json.dumps(doc, separators=(",", ":"))
    return text, sha256(text), [config.encode(), layer.encode()]


def upload(bench, repo, data):
    """One blob through ECR's layer-upload API, as docker pushes it."""
    upload_id = bench.ecr.initiate_layer_upload(repositoryName=repo)["uploadId"]
    bench.ecr.upload_layer_part(repositoryName=repo, uploadId=upload_id, partFirstByte=0,
                                partLastByte=len(data) - 1, layerPartBlob=data)
    bench.ecr.complete_layer_upload(repositoryName=repo, uploadId=upload_id,
                                    layerDigests=["sha256:" + hashlib.sha256(data).hexdigest()])


def seed(bench, functions, versions, repositories):
    bench.emulator("lambda/defaults", {"update_seconds": 0})
    repos = [f"retain-{r}" for r in range(repositories)]
    for repo in repos:
        bench.ecr.create_repository(repositoryName=repo)
        bench.ecr.put_lifecycle_policy(repositoryName=repo, lifecyclePolicyText=POLICY)
    for f in range(functions):
        repo = repos[f % repositories]
        name = f"retain-fn-{f}"
        digests = []
        for v in range(versions + 1):
            text, digest, blobs = image(repo, f"{f}-{v}")
            for data in blobs:
                upload(bench, repo, data)
            bench.ecr.put_image(repositoryName=repo, imageManifest=text, imageDigest=digest,
                                imageManifestMediaType="application/vnd.docker.distribution.manifest.v2+json",
                                imageTag=f"f{f}-v{v}")
            digests.append(digest)
        uri = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{repo}"
        bench.lam.create_function(FunctionName=name, Role=ROLE, PackageType="Image",
                                  Code={"ImageUri": f"{uri}@{digests[0]}"})
        for digest in digests[1:]:
            bench.lam.update_function_code(FunctionName=name, ImageUri=f"{uri}@{digest}", Publish=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--functions", type=int, default=200)
    parser.add_argument("--versions", type=int, default=5)
    parser.add_argument("--repositories", type=int, default=4)
    parser.add_argument("--rtt-ms", default="0,20", help="round trips to add, in ms, comma-separated (default 0,20)")
    parser.add_argument("--runs", type=int, default=3, help="runs per round trip (default 3)")
    parser.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "ecr-lambda"))
    parser.add_argument("--no-build", action="store_true")
    opts = parser.parse_args()
    if not opts.no_build:
        subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "ecr-lambda"], cwd=ROOT, check=True)
    rtts = [int(r) for r in opts.rtt_ms.split(",")]
    if not opts.no_build:
        subprocess.run(["cargo", "build", "--release", "--quiet", "--manifest-path", "bench/proxy/Cargo.toml"],
                       cwd=ROOT, check=True)
    emu = Emulator()
    results = []
    try:
        started = time.perf_counter()
        seed(emu, opts.functions, opts.versions, opts.repositories)
        print(f"seeded {opts.functions} functions x {opts.versions} versions in {opts.repositories} "
              f"repositories in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        for rtt in rtts:
            proxy = Proxy(emu.port, rtt)
            try:
                results.append((rtt, measure(opts, emu, proxy)))
            finally:
                proxy.close()
            print(f"round trip {rtt} ms: median {statistics.median(results[-1][1]['times']):.2f} s",
                  file=sys.stderr)
    finally:
        emu.close()
    report = results[0][1]["report"]
    statuses = {}
    for i in report["images"]:
        statuses[i["status"]] = statuses.get(i["status"], 0) + 1
    print(f"retain --all-functions: {len(report['functions'])} functions, {len(report['images'])} images in use "
          f"({statuses}), {len(report['repositories'])} repositories, binary {os.path.relpath(opts.binary, ROOT)}")
    # By design (see the docstring): ListFunctions' pages, two round trips per wave of
    # functions, then DescribeImages' batches (one after another) and the preview's three.
    per_repo = -(-opts.functions * opts.versions // opts.repositories)
    design = (-(-opts.functions // LIST_PAGE) + 2 * -(-opts.functions // FUNCTIONS_AT_ONCE)
              + -(-per_repo // DESCRIBE_BATCH) + 3)
    for rtt, r in results:
        times, chains = r["times"], r["chains"]
        floor = [len(c) * rtt / 1000 + PREVIEW_WAIT for c in chains]
        moto = [sum(call["upstream"] for call in c) for c in chains]
        print(f"round trip {rtt} ms, {len(times)} runs:")
        print(f"  wall time: median {statistics.median(times):.2f} s (runs: {', '.join(f'{t:.2f}' for t in times)})")
        print(f"  chain (proxy's log): {'/'.join(str(len(c)) for c in chains)} calls; floor = chain x {rtt} ms "
              f"+ {PREVIEW_WAIT:.0f} s: median {statistics.median(floor):.2f} s, +moto "
              f"{statistics.median(f + m for f, m in zip(floor, moto)):.2f} s; "
              f"wall/floor {statistics.median(t / f for t, f in zip(times, floor)):.2f}, "
              f"wall/(floor+moto) {statistics.median(t / (f + m) for t, f, m in zip(times, floor, moto)):.2f}")
        print(f"  by design: {design} round trips + {PREVIEW_WAIT:.0f} s = {design * rtt / 1000 + PREVIEW_WAIT:.2f} s")
        print(f"  most calls in flight at once (proxy's log): {'/'.join(str(n) for n in r['in_flight'])}")
    counts = results[0][1]["counts"]
    print(f"calls: {sum(counts.values())} in all (the tool's tally; the proxy saw the same)")
    for op, n in sorted(counts.items()):
        print(f"  {op:32} {n}")


def in_flight(calls):
    """The most calls the proxy had open at one moment."""
    edges = sorted([(c["start"], 1) for c in calls] + [(c["end"], -1) for c in calls])
    most = now = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


def measure(opts, emu, proxy):
    """RUNS runs of retain through `proxy`: times, per-run chains, the call counts."""
    args = [opts.binary, "-v", "--endpoint-url", proxy.url, "retain", "--all-functions", "--output", "json"]
    times, chains, most, counts, report = [], [], [], None, None
    for _ in range(opts.runs):
        proxy.clear()
        started = time.perf_counter()
        out = subprocess.run(args, env=emu.env, capture_output=True, text=True)
        times.append(time.perf_counter() - started)
        if out.returncode not in (0, 1):
            raise SystemExit(f"retain exited {out.returncode}: {out.stderr}")
        tally = re.search(r"(\d+) AWS call\(s\) in [0-9.]+ s \(([^)]*)\)", out.stderr)
        if not tally:
            raise SystemExit(f"no call tally in the -v log: {out.stderr[-2000:]}")
        run_counts = dict((op, int(n)) for op, n in (p.rsplit(" ", 1) for p in tally.group(2).split(", ")))
        if counts is not None and run_counts != counts:
            raise SystemExit(f"the calls differ between runs: {counts} then {run_counts}")
        calls = proxy.calls()
        seen = {}
        for c in calls:
            seen[c["operation"]] = seen.get(c["operation"], 0) + 1
        if seen != run_counts:
            raise SystemExit(f"the proxy saw {seen}, the tool counted {run_counts}")
        chains.append(sequential_chain(calls))
        most.append(in_flight(calls))
        counts, report = run_counts, json.loads(out.stdout)
    return {"times": times, "chains": chains, "in_flight": most, "counts": counts, "report": report}

if __name__ == "__main__":
    main()
