#!/usr/bin/env python3
"""`ecr-lambda retain --all-functions` at scale, against the local emulator.

    pip install "moto[server]==5.2.5"
    python3 bench/retain.py [--functions 200] [--versions 5] [--repositories 4]
                            [--runs 3] [--binary target/release/ecr-lambda] [--no-build]

Starts the tests' emulator (no injected latency: bench/proxy does not build at the
moment, as tests/support/proxy.rs now needs serde_json), seeds REPOSITORIES repositories, each with a lifecycle policy (expire untagged images
older than 14 days), and FUNCTIONS image functions spread over them, each with VERSIONS
published versions of distinct images (so FUNCTIONS x VERSIONS images in use), then
times `retain --all-functions --output json` over RUNS runs and prints the wall time
and the calls the tool itself counted (its `-v` call tally, retries included), per
operation. The calls are bounded by design: one
DescribeImages per 100 images in use per repository, one lifecycle preview per
repository (StartLifecyclePolicyPreview, then GetLifecyclePolicyPreview until
COMPLETE: the emulator answers IN_PROGRESS once), one GetFunction per function and
version, one ListVersionsByFunction per 50 versions and one ListAliases per function.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import ACCOUNT, REGION, ROLE, ROOT, sha256  # noqa: E402


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

POLICY = json.dumps({"rules": [{"rulePriority": 1, "selection": {
    "tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 14},
    "action": {"type": "expire"}}]})


def image(repo, n):
    """A distinct single-platform manifest (the emulator does not check its blobs)."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "n": n}, separators=(",", ":"))
    doc = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
           "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                      "size": len(config), "digest": sha256(config)},
           "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                       "size": 1, "digest": sha256(f"{repo} {n}")}]}
    text = json.dumps(doc, separators=(",", ":"))
    return text, sha256(text)


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
            text, digest = image(repo, f"{f}-{v}")
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
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "ecr-lambda"))
    parser.add_argument("--no-build", action="store_true")
    opts = parser.parse_args()
    if not opts.no_build:
        subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "ecr-lambda"], cwd=ROOT, check=True)
    emu = Emulator()
    try:
        started = time.perf_counter()
        seed(emu, opts.functions, opts.versions, opts.repositories)
        print(f"seeded {opts.functions} functions x {opts.versions} versions in {opts.repositories} "
              f"repositories in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        args = [opts.binary, "-v", "--endpoint-url", emu.url, "retain", "--all-functions", "--output", "json"]
        times, counts, report = [], None, None
        for _ in range(opts.runs):
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
            counts, report = run_counts, json.loads(out.stdout)
    finally:
        emu.close()
    statuses = {}
    for i in report["images"]:
        statuses[i["status"]] = statuses.get(i["status"], 0) + 1
    print(f"retain --all-functions: {len(report['functions'])} functions, {len(report['images'])} images in use "
          f"({statuses}), {len(report['repositories'])} repositories, binary {os.path.relpath(opts.binary, ROOT)}")
    print(f"wall time: median {statistics.median(times):.2f} s (runs: {', '.join(f'{t:.2f}' for t in times)})")
    print(f"calls: {sum(counts.values())} in all")
    for op, n in sorted(counts.items()):
        print(f"  {op:32} {n}")


if __name__ == "__main__":
    main()
