#!/usr/bin/env bash
# The main job, end to end, against the local AWS emulator (moto behind the tests'
# launcher, tests/support/emulator/: updates take time, new functions are Pending,
# as on real Lambda) with no AWS account: a buildx-style image index with a
# provenance attestation is pushed to a local ECR, `check` says Lambda would refuse
# it, `deploy` fixes the tag, deploys the image and waits for the update, and
# `check` of the fixed tag finds the attestation kept as a referrer.
#
#   pip install "moto[server]==5.2.5"
#   examples/local-demo.sh            # the demo, start to end
#   examples/local-demo.sh --serve    # seed, then keep the emulator up for your own
#                                     # commands (the book's tutorial) until Enter
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --quiet
bin=target/debug/ecr-lambda

# The emulator on a free loopback port. Its stdin is this script's pipe to it, so
# it exits when this script does. Lambda updates take 3.5 s here.
coproc MOTO { EMULATOR_UPDATE_SECONDS=3.5 exec python3 tests/support/emulator/server.py 0 2>/dev/null; }
read -r port <&"${MOTO[0]}"

export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null

# Push the way buildx does: the blobs through ECR's layer-upload API (every config,
# layer and in-toto statement the manifests name: ECR refuses a manifest whose blobs
# were not pushed, and so does the emulator), then the children by digest, then
# the index under a tag; and a plain image the function starts from. The image is a
# GitHub Actions build with SLSA provenance, so `check` shows its source and revision.
python3 - <<'PY'
import hashlib, json, boto3
ecr = boto3.client("ecr")
ecr.create_repository(repositoryName="demo")
def upload_blob(data, digest):
    assert "sha256:" + hashlib.sha256(data).hexdigest() == digest, digest
    upload = ecr.initiate_layer_upload(repositoryName="demo")["uploadId"]
    ecr.upload_layer_part(repositoryName="demo", uploadId=upload, partFirstByte=0,
                          partLastByte=len(data) - 1, layerPartBlob=data)
    try:
        ecr.complete_layer_upload(repositoryName="demo", uploadId=upload, layerDigests=[digest])
    except ecr.exceptions.LayerAlreadyExistsException:
        pass
def push(case, tag):
    meta = json.load(open(f"tests/fixtures/{case}/case.json"))
    for b in meta.get("blobs", []):
        upload_blob(open(f"tests/fixtures/{case}/{b['file']}", "rb").read(), b["digest"])
    for m in meta["children"] + [meta["root"]]:
        kwargs = {"imageTag": tag} if m is meta["root"] else {}
        ecr.put_image(repositoryName="demo", imageDigest=m["digest"],
                      imageManifestMediaType=m["media_type"],
                      imageManifest=open(f"tests/fixtures/{case}/{m['file']}").read(), **kwargs)
push("provenance-index", "v1")
push("docker-v2", "base")
boto3.client("lambda").create_function(
    FunctionName="demo-fn", PackageType="Image", Architectures=["x86_64"],
    Role="arn:aws:iam::123456789012:role/ecr-lambda-test-role",
    Code={"ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/demo:base"})
PY

image=123456789012.dkr.ecr.us-east-1.amazonaws.com/demo:v1
if [ "${1:-}" = --serve ]; then
    cat <<EOF
The local AWS is up, with $image (an index Lambda refuses) and the function demo-fn.
In another shell, from this directory:

    export AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL AWS_REGION=us-east-1
    export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing
    export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
    export PATH="\$PWD/target/debug:\$PATH"
    ecr-lambda check $image --function demo-fn

Press Enter here to stop it.
EOF
    read -r _
    exit 0
fi
run() { echo; echo "\$ ecr-lambda $*"; "$bin" "$@" || echo "(exit code $?)"; }
run check "$image" --function demo-fn
run deploy "$image" --function demo-fn -v
run check "$image" --function demo-fn
run deploy "$image" --function demo-fn --output json
