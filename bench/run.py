#!/usr/bin/env python3
"""ecr-lambda against the AWS CLI doing the same work, at a fixed round trip.

    pip install "moto[server]==5.2.5" awscli
    python3 bench/run.py [--rtt-ms 40] [--runs 7] [--wait-runs 5,3,2] [--only-wait] [--no-build]

Starts the tests' emulator behind the latency-injecting proxy (bench/proxy, the tests' own
proxy), seeds a buildx single-platform index and a multi-platform index the way
buildx pushes them (each case's blobs, its image configs, through ECR's layer-upload
API first, then the manifests), creates the functions, then times over several runs each:
`ecr-lambda check`, `fix` and `deploy`, and the manual AWS CLI path for the same
work (`aws ecr batch-get-image` for the tag and the child, `aws ecr put-image`,
`aws lambda update-function-code`, `aws lambda wait function-updated-v2`). The
proxy counts the calls each side sends and times them; the floor is the longest
chain of calls that had to wait for each other times the round trip (for
`deploy`, plus the 1 s ecr-lambda waits before its first status read).

The config read (GetDownloadUrlForLayer, then the GET of the URL it answers, which
the proxy rewrites to pass through itself and counts as GetBlob) is reported per
command from the proxy's log: how many of its calls are on the chain, and its span
(the start of GetDownloadUrlForLayer to the end of GetBlob), median over the runs.

The server is tests/support/emulator/server.py (moto 5.2.5 with Lambda's
update timeline, see its FIDELITY.md). The functions of those cases get
`update_seconds` 0: an update has ended by the first status read, the closest
to plain moto, which answered the update as already done.

The wait case (run first) deploys to functions whose updates take 3.3, 12.4 and
30.6 s: `ecr-lambda deploy TAG --function F --output json` against
`aws lambda update-function-code` + `aws lambda wait function-updated-v2`, each
run to the image the function is not running. Lag = the moment the command
(sequence) exited minus the moment the update ended at the emulator (its
`/_emulator/lambda/functions/F/updates`, both wall clock on this machine);
polls = GetFunction / GetFunctionConfiguration calls the proxy saw after the
UpdateFunctionCode call.
"""

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ACCOUNT = "123456789012"
REGION = "us-east-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/ecr-lambda-test-role"


def sequential_chain(calls):
    """The longest chain of calls each starting after the previous ended (the proxy's
    log, as tests/support/proxy.rs's `sequential_chain` takes it)."""
    chain, last_end = [], -1.0
    for c in sorted(calls, key=lambda c: c["end"]):
        if c["start"] >= last_end:
            chain.append(c)
            last_end = c["end"]
    return chain


def sha256(text):
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def load_case(name):
    folder = os.path.join(ROOT, "tests", "fixtures", name)
    meta = json.load(open(os.path.join(folder, "case.json")))

    def read(entry):
        return {"bytes": open(os.path.join(folder, entry["file"]), newline="").read(),
                "digest": entry["digest"], "media_type": entry["media_type"], "file": entry["file"]}

    return read(meta["root"]), [read(c) for c in meta["children"]]


def load_blobs(name):
    """The blobs of a case (its image configs): (bytes, digest) each."""
    folder = os.path.join(ROOT, "tests", "fixtures", name)
    meta = json.load(open(os.path.join(folder, "case.json")))
    blobs = []
    for b in meta.get("blobs", []):
        data = open(os.path.join(folder, b["file"]), "rb").read()
        if len(data) != b["size"] or "sha256:" + hashlib.sha256(data).hexdigest() != b["digest"]:
            raise SystemExit(f"{name}/{b['file']} is not the blob case.json names")
        blobs.append((data, b["digest"]))
    return blobs


class Bench:
    def __init__(self, rtt_ms):
        self.rtt = rtt_ms / 1000
        self.env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                        AWS_REGION=REGION, AWS_DEFAULT_REGION=REGION,
                        AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null",
                        AWS_EC2_METADATA_DISABLED="true", AWS_PAGER="")
        self.moto = subprocess.Popen([sys.executable, "tests/support/emulator/server.py", "0"], cwd=ROOT,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=self.env, text=True)
        self.moto_port = int(self.moto.stdout.readline())
        proxy = os.path.join(ROOT, "bench", "proxy", "target", "release", "bench-proxy")
        self.proxy = subprocess.Popen([proxy, str(self.moto_port), str(rtt_ms)], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True)
        self.proxy_url = f"http://127.0.0.1:{int(self.proxy.stdout.readline())}"
        import boto3  # moto depends on it

        direct = dict(endpoint_url=f"http://127.0.0.1:{self.moto_port}", region_name=REGION,
                      aws_access_key_id="testing", aws_secret_access_key="testing")
        self.ecr = boto3.client("ecr", **direct)
        self.lam = boto3.client("lambda", **direct)
        self.binary = os.path.join(ROOT, "target", "release", "ecr-lambda")
        aws = shutil.which("aws")
        self.aws = [aws] if aws else [sys.executable, "-m", "awscli"]
        self.count = 0

    def close(self):
        for p in (self.proxy, self.moto):
            p.stdin.close()
            p.wait(timeout=10)

    def emulator(self, path, body=None):
        """The emulator's control API (FIDELITY.md), straight to its port."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.moto_port}/_emulator/{path}", method="GET" if body is None else "POST",
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request) as r:
            return json.loads(r.read())

    # Seeding goes straight to moto: only the measured commands pass the proxy.
    def upload_blobs(self, repo, *cases):
        """The cases' blobs, through ECR's layer-upload API, before the manifests
        naming them (the emulator serves a blob only once a manifest names it)."""
        for case in cases:
            for data, digest in load_blobs(case):
                upload = self.ecr.initiate_layer_upload(repositoryName=repo)["uploadId"]
                self.ecr.upload_layer_part(repositoryName=repo, uploadId=upload, partFirstByte=0,
                                           partLastByte=len(data) - 1, layerPartBlob=data)
                try:
                    self.ecr.complete_layer_upload(repositoryName=repo, uploadId=upload,
                                                   layerDigests=[digest])
                except self.ecr.exceptions.LayerAlreadyExistsException:
                    pass

    def seed(self, case):
        self.count += 1
        repo = f"bench-{self.count}"
        self.ecr.create_repository(repositoryName=repo)
        self.upload_blobs(repo, case, "docker-v2")
        root, children = load_case(case)
        for m in children + [root]:
            extra = {"imageTag": "v1"} if m is root else {}
            self.ecr.put_image(repositoryName=repo, imageManifest=m["bytes"], imageDigest=m["digest"],
                               imageManifestMediaType=m["media_type"], **extra)
        base, _ = load_case("docker-v2")
        self.ecr.put_image(repositoryName=repo, imageManifest=base["bytes"], imageDigest=base["digest"],
                           imageManifestMediaType=base["media_type"], imageTag="base")
        function = f"{repo}-fn"
        # The update has ended by the first status read (see the docstring).
        self.emulator(f"lambda/functions/{function}", {"update_seconds": 0})
        self.lam.create_function(FunctionName=function, Role=ROLE, PackageType="Image",
                                 Architectures=["x86_64"],
                                 Code={"ImageUri": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{repo}:base"})
        return repo, function

    def seed_scan(self, repos, tags_per_repo):
        """Repositories of distinct buildx indexes (a third multi-platform) and ready tags."""
        single_root, single_children = load_case("buildx-single")
        multi_root, multi_children = load_case("buildx-multi")
        base, _ = load_case("docker-v2")
        names = []
        for r in range(repos):
            self.count += 1
            repo = f"bench-scan-{self.count}"
            names.append(repo)
            self.ecr.create_repository(repositoryName=repo)
            self.upload_blobs(repo, "buildx-single", "buildx-multi", "docker-v2")
            for m in single_children + multi_children:
                self.ecr.put_image(repositoryName=repo, imageManifest=m["bytes"], imageDigest=m["digest"],
                                   imageManifestMediaType=m["media_type"])
            for t in range(tags_per_repo):
                if t % 4 == 3:
                    manifest = base
                else:
                    root = multi_root if t % 4 == 2 else single_root
                    doc = json.loads(root["bytes"])
                    doc["annotations"] = {"org.opencontainers.image.revision": f"{r}-{t}"}
                    text = json.dumps(doc, separators=(",", ":"))
                    manifest = {"bytes": text, "digest": sha256(text), "media_type": root["media_type"]}
                self.ecr.put_image(repositoryName=repo, imageManifest=manifest["bytes"],
                                   imageDigest=manifest["digest"], imageManifestMediaType=manifest["media_type"],
                                   imageTag=f"t{t}")
        return names

    def seed_wait(self, update_seconds, side):
        """A repository with two ready images (tags a and b) and a function on a
        whose updates take `update_seconds`."""
        self.count += 1
        repo = f"bench-wait-{self.count}"
        self.ecr.create_repository(repositoryName=repo)
        self.upload_blobs(repo, "docker-v2", "buildx-single")
        base, _ = load_case("docker-v2")
        _, children = load_case("buildx-single")
        image = next(c for c in children if c["file"] == "image-amd64.json")
        images = {}
        for tag, m in (("a", base), ("b", image)):
            self.ecr.put_image(repositoryName=repo, imageManifest=m["bytes"], imageDigest=m["digest"],
                               imageManifestMediaType=m["media_type"], imageTag=tag)
            images[tag] = m["digest"]
        function = f"{repo}-{side}-fn"
        self.emulator(f"lambda/functions/{function}", {"update_seconds": 0})
        self.lam.create_function(FunctionName=function, Role=ROLE, PackageType="Image",
                                 Architectures=["x86_64"],
                                 Code={"ImageUri": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{repo}:a"})
        self.lam.get_waiter("function_updated_v2").wait(FunctionName=function,
                                                        WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        self.emulator(f"lambda/functions/{function}", {"update_seconds": update_seconds})
        return repo, function, images

    def wait_run(self, side, repo, function, tag, digest):
        """One deploy to `tag` (its digest for the CLI); returns lag, polls, total (s)."""
        uri = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{repo}"
        if side == "ours":
            args = [self.binary, "--endpoint-url", self.proxy_url, "--output", "json",
                    "deploy", f"{uri}:{tag}", "--function", function]

            def steps():
                report = json.loads(self.run(args))
                update = report.get("update") or {}
                if update.get("status") != "successful":
                    raise SystemExit(f"deploy did not succeed: {report}")
                self.reported_polls = update.get("polls")
        else:
            def aws(*args):
                return self.run(self.aws + ["--endpoint-url", self.proxy_url, "--output", "json"] + list(args))

            def steps():
                aws("lambda", "update-function-code", "--function-name", function, "--image-uri", f"{uri}@{digest}")
                aws("lambda", "wait", "function-updated-v2", "--function-name", function)
                self.reported_polls = None
        before = len(self.emulator(f"lambda/functions/{function}/updates")["updates"])
        reads_before = self.emulator(f"lambda/functions/{function}/reads")
        self.clear()
        start = time.time()
        steps()
        exited = time.time()
        updates = self.emulator(f"lambda/functions/{function}/updates")["updates"]
        reads = self.emulator(f"lambda/functions/{function}/reads")
        if len(updates) != before + 1:
            raise SystemExit(f"{side}: expected one update of {function}, saw {len(updates) - before}")
        update = updates[-1]
        calls = self.proxy_calls()
        sent = next(c for c in calls if c["operation"] == "UpdateFunctionCode")
        polls = sum(1 for c in calls if c["operation"] in ("GetFunction", "GetFunctionConfiguration")
                    and c["start"] >= sent["end"])
        read_delta = sum(reads[k] - reads_before[k] for k in ("get_function", "get_function_configuration"))
        return {"lag": exited - update["ended"], "polls": polls, "reads": read_delta,
                "reported": self.reported_polls, "total": exited - start,
                "update_to_exit": exited - update["started"]}

    def proxy_calls(self):
        with urllib.request.urlopen(self.proxy_url + "/__proxy/calls") as r:
            return [json.loads(line) for line in r.read().decode().splitlines() if line]

    def clear(self):
        urllib.request.urlopen(urllib.request.Request(self.proxy_url + "/__proxy/clear", method="POST")).read()

    def timed(self, steps):
        """Runs `steps` (a function running subprocesses) once; returns seconds, calls, chain."""
        self.clear()
        start = time.perf_counter()
        steps()
        elapsed = time.perf_counter() - start
        calls = self.proxy_calls()
        return elapsed, calls, sequential_chain(calls)

    def run(self, args, expect=(0,)):
        out = subprocess.run(args, env=self.env, capture_output=True, text=True)
        if out.returncode not in expect:
            raise SystemExit(f"{' '.join(args)} exited {out.returncode}: {out.stderr}")
        return out.stdout

    # ecr-lambda
    def ours(self, command, repo, function, multi):
        image = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{repo}:v1"
        args = [self.binary, "--endpoint-url", self.proxy_url, command, image]
        if command == "deploy":
            args += ["--function", function]
        elif multi:
            args += ["--platform", "linux/amd64"]
        expect = (1,) if command == "check" else (0,)
        return lambda: self.run(args, expect)

    # The manual way, with the AWS CLI.
    def cli(self, command, repo, function, multi):
        def aws(*args):
            return self.run(self.aws + ["--endpoint-url", self.proxy_url, "--output", "json"] + list(args))

        def steps():
            index = json.loads(aws("ecr", "batch-get-image", "--repository-name", repo,
                                   "--image-ids", "imageTag=v1"))
            manifest = json.loads(index["images"][0]["imageManifest"])
            entry = next(m for m in manifest["manifests"]
                         if m.get("platform", {}).get("architecture") == "amd64"
                         and m.get("platform", {}).get("os") == "linux")
            child = json.loads(aws("ecr", "batch-get-image", "--repository-name", repo,
                                   "--image-ids", f"imageDigest={entry['digest']}"))
            image = child["images"][0]
            if command == "check":
                return
            tag = "v1-amd64" if multi else "v1"
            aws("ecr", "put-image", "--repository-name", repo, "--image-tag", tag,
                "--image-manifest", image["imageManifest"], "--image-digest", entry["digest"],
                "--image-manifest-media-type", image["imageManifestMediaType"])
            if command == "fix":
                return
            uri = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{repo}@{entry['digest']}"
            aws("lambda", "update-function-code", "--function-name", function, "--image-uri", uri)
            aws("lambda", "wait", "function-updated-v2", "--function-name", function)

        return steps


CONFIG_READ = ("GetDownloadUrlForLayer", "GetBlob")


def config_read(calls, chain):
    """The config read's calls in one run: how many, how many on the chain, and the
    span from the start of the first to the end of the last (s)."""
    mine = [c for c in calls if c["operation"] in CONFIG_READ]
    return {"calls": len(mine), "links": sum(1 for c in chain if c["operation"] in CONFIG_READ),
            "span": (max(c["end"] for c in mine) - min(c["start"] for c in mine)) if mine else None}


WAIT_SECONDS = (3.3, 12.4, 30.6)
POLL_INTERVAL = 1.0  # ecr-lambda's fixed schedule (src/lambda.rs); botocore's waiter delay too


def print_wait(rtt_ms, wait_rows, file=None):
    file = file or sys.stdout
    print(f"wait case, round trip {rtt_ms} ms: deploy to a function whose update takes the given time; "
          "lag = exit - end of the update at the emulator; polls = status reads after UpdateFunctionCode; "
          "times in s", file=file)
    print(f"{'update':>7} {'side':<8} {'runs':>4} {'lag median':>10} {'lag max':>8} {'lag min':>8} "
          f"{'polls':>7} {'total median':>12} {'total max':>9}", file=file)
    for seconds, results in wait_rows:
        for side, runs in results.items():
            lags = [r["lag"] for r in runs]
            totals = [r["total"] for r in runs]
            polls = sorted({r["polls"] for r in runs})
            poll_text = "/".join(str(p) for p in polls)
            print(f"{seconds:>7.1f} {('ours' if side == 'ours' else 'aws cli'):<8} {len(runs):>4} "
                  f"{statistics.median(lags):>10.3f} {max(lags):>8.3f} {min(lags):>8.3f} {poll_text:>7} "
                  f"{statistics.median(totals):>12.3f} {max(totals):>9.3f}", file=file)
    for seconds, results in wait_rows:
        for side, runs in results.items():
            print(f"  {seconds} s {side}: " + "; ".join(
                f"lag {r['lag']:.3f} polls {r['polls']} (emulator reads {r['reads']}"
                + (f", reported {r['reported']}" if r["reported"] is not None else "")
                + f") total {r['total']:.3f}" for r in runs), file=file)


def median_and_spread(values):
    values = sorted(values)
    return statistics.median(values), values[0], values[-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rtt-ms", type=int, default=40)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--wait-runs", default="5,3,2",
                        help="runs per side of the wait case for 3.3, 12.4 and 30.6 s updates (default 5,3,2)")
    parser.add_argument("--only-wait", action="store_true", help="run the wait case only")
    opts = parser.parse_args()
    wait_runs = [int(n) for n in opts.wait_runs.split(",")]
    if not opts.no_build:
        subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "ecr-lambda"], cwd=ROOT, check=True)
        subprocess.run(["cargo", "build", "--release", "--quiet", "--manifest-path", "bench/proxy/Cargo.toml"],
                       cwd=ROOT, check=True)

    bench = Bench(opts.rtt_ms)
    rows = []
    scan_rows = []
    wait_rows = []
    config_rows = []
    try:
        for seconds, runs in zip(WAIT_SECONDS, wait_runs):
            functions = {side: bench.seed_wait(seconds, side) for side in ("ours", "cli")}
            current = {side: "a" for side in functions}
            results = {side: [] for side in functions}
            for _ in range(runs):
                for side, (repo, function, images) in functions.items():
                    tag = "b" if current[side] == "a" else "a"
                    results[side].append(bench.wait_run(side, repo, function, tag, images[tag]))
                    current[side] = tag
            wait_rows.append((seconds, results))
            print_wait(opts.rtt_ms, [(seconds, results)], file=sys.stderr)
        if opts.only_wait:
            return print_wait(opts.rtt_ms, wait_rows)
        for repos, per_repo in ((10, 40), (50, 40)):
            names = bench.seed_scan(repos, per_repo)
            args = [bench.binary, "--endpoint-url", bench.proxy_url, "scan"]
            for name in names:
                args += ["--repository", name]
            times, calls = [], None
            for _ in range(3):
                elapsed, seen, chain = bench.timed(lambda: bench.run(args, expect=(1,)))
                times.append(elapsed)
                calls = {}
                for c in seen:
                    calls[c["operation"]] = calls.get(c["operation"], 0) + 1
            scan_rows.append((repos * per_repo, repos, median_and_spread(times), calls))
        for case, multi in (("buildx-single", False), ("buildx-multi", True)):
            for command in ("check", "fix", "deploy"):
                results = {}
                for side in ("ours", "cli"):
                    times, counts, chains, moto, config = [], None, None, [], []
                    for _ in range(opts.runs):
                        repo, function = bench.seed(case)
                        steps = getattr(bench, side)(command, repo, function, multi)
                        elapsed, calls, chain = bench.timed(steps)
                        times.append(elapsed)
                        counts = len(calls)
                        chains = len(chain)
                        moto.append(sum(c["upstream"] for c in chain))
                        if side == "ours":
                            config.append(config_read(calls, chain))
                    results[side] = (median_and_spread(times), counts, chains, statistics.median(moto))
                    if side == "ours":
                        config_rows.append((case, command, config, [c["operation"] for c in chain]))
                rows.append((case, command, results))
    finally:
        bench.close()

    rtt = opts.rtt_ms / 1000
    print_wait(opts.rtt_ms, wait_rows)
    print()
    print(f"round trip {opts.rtt_ms} ms, {opts.runs} runs each; times are medians (min-max), in ms")
    print(f"{'case':<14} {'command':<7} {'ours':>16} {'aws cli':>18} {'ratio':>6} {'calls':>5} "
          f"{'chain':>5} {'floor':>6} {'+moto':>6} {'ours/floor':>10} {'ours/(floor+moto)':>17}")
    for case, command, r in rows:
        (om, olo, ohi), ocalls, ochain, omoto = r["ours"]
        (cm, clo, chi), ccalls, _, _ = r["cli"]
        # deploy: ecr-lambda reads the status first one poll interval after the
        # update's answer (its fixed 1 s schedule), so that second is in its floor.
        floor = ochain * rtt + (POLL_INTERVAL if command == "deploy" else 0)
        print(f"{case:<14} {command:<7} {om*1000:>6.0f} ({olo*1000:.0f}-{ohi*1000:.0f}) "
              f"{cm*1000:>7.0f} ({clo*1000:.0f}-{chi*1000:.0f}) {cm/om:>6.1f} {ocalls:>5} {ochain:>5} "
              f"{floor*1000:>6.0f} {(floor+omoto)*1000:>6.0f} {om/floor:>10.2f} {om/(floor+omoto):>17.2f}")
    for tags, repos, (m, lo, hi), calls in scan_rows:
        print(f"scan {tags} tags in {repos} repositories (--concurrency 8): {m*1000:.0f} ms ({lo*1000:.0f}-{hi*1000:.0f}), "
              f"{tags/m:.0f} tags/s, {sum(calls.values())} calls ("
              + ", ".join(f"{op} {n}" for op, n in sorted(calls.items())) + ")")
    print()
    print(f"the config read (ours): GetDownloadUrlForLayer + GetBlob (the GET of its URL), from the proxy's "
          f"log; span = start of GetDownloadUrlForLayer to end of GetBlob; medians (min-max) of {opts.runs} runs, in ms")
    print(f"{'case':<14} {'command':<7} {'calls':>5} {'on chain':>8} {'span':>16} {'its floor':>9}  chain (last run)")
    for case, command, runs, ops in config_rows:
        calls = sorted({r["calls"] for r in runs})
        links = sorted({r["links"] for r in runs})
        spans = [r["span"] for r in runs if r["span"] is not None]
        span = ("-" if not spans else
                f"{statistics.median(spans)*1000:.0f} ({min(spans)*1000:.0f}-{max(spans)*1000:.0f})")
        print(f"{case:<14} {command:<7} {'/'.join(map(str, calls)):>5} {'/'.join(map(str, links)):>8} "
              f"{span:>16} {max(links)*rtt*1000:>9.0f}  " + " > ".join(ops))
    print("calls: what ecr-lambda sent (the AWS CLI path sent "
          + ", ".join(f"{c}/{r['cli'][1]}" for _, c, r in rows[:3]) + " for check/fix/deploy);"
          " chain: calls that had to wait for each other; floor = chain x round trip"
          " (deploy: + the 1 s before ecr-lambda's first status read);"
          " +moto: plus moto's own time on that chain")


if __name__ == "__main__":
    main()
