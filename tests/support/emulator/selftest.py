"""Self-test of the emulator launcher (server.py): one or more tests per row of
FIDELITY.md, named after the row (test_L1_..., test_E7_...).

Run: python3 tests/support/emulator/selftest.py   (exit status 0 = all pass)
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from selftest_retention import RetentionTests  # the rows E13-E18, L11

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "server.py")
ACCOUNT = "123456789012"
REGION = "us-east-1"
REGISTRY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/ecr-lambda-test-role"
UPDATE = 0.4  # seconds an update stays InProgress in these tests

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def sha(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return "sha256:" + hashlib.sha256(data).hexdigest()


# The bytes of every blob image_manifest names, by digest: put() pushes them first,
# as a client does, since PutImage refuses a manifest whose blobs are missing [E19].
# One table however often this file is imported (as __main__, and as `selftest` by
# selftest_retention).
BLOBS: dict[str, bytes] = sys.modules["__main__"].__dict__.setdefault("_selftest_blobs", {})


def image_manifest(seed: str, subject: str | None = None, artifact_type: str | None = None,
                   config_type: str = OCI_CONFIG, layer_type: str = OCI_LAYER,
                   annotations: dict | None = None) -> str:
    config = json.dumps({"architecture": "amd64", "os": "linux", "seed": seed}).encode()
    layer = f"layer {seed}".encode()
    BLOBS[sha(config)] = config
    BLOBS[sha(layer)] = layer
    doc: dict = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": config_type, "digest": sha(config), "size": len(config)},
        "layers": [{"mediaType": layer_type, "digest": sha(layer), "size": len(layer)}],
    }
    if artifact_type:
        doc["artifactType"] = artifact_type
    if subject:
        doc["subject"] = {"mediaType": OCI_MANIFEST, "digest": subject, "size": 100}
    if annotations:
        doc["annotations"] = annotations
    # Deliberately not canonical JSON: the digest must be of these exact bytes.
    return json.dumps(doc, indent=3)


def index_manifest(children: list[str]) -> str:
    return json.dumps({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": d, "size": 500,
             "platform": {"architecture": "amd64", "os": "linux"}}
            for d in children
        ],
    })


class Emulator(RetentionTests, unittest.TestCase):
    proc: subprocess.Popen
    port: int

    @classmethod
    def setUpClass(cls) -> None:
        env = dict(os.environ, EMULATOR_UPDATE_SECONDS=str(UPDATE), EMULATOR_PENDING_SECONDS="0")
        cls.proc = subprocess.Popen(
            [sys.executable, SERVER, "0"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
        )
        line = cls.proc.stdout.readline()
        cls.port = int(line)
        cls.url = f"http://127.0.0.1:{cls.port}"
        kw = dict(
            endpoint_url=cls.url, region_name=REGION, aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries={"max_attempts": 1, "mode": "standard"}),
        )
        cls.ecr = boto3.client("ecr", **kw)
        cls.lam = boto3.client("lambda", **kw)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.proc.stdin.close()
        cls.proc.wait(timeout=10)
        cls.proc.stdout.close()

    def setUp(self) -> None:
        self.control("POST", "/_emulator/reset")

    # -- helpers ------------------------------------------------------------

    def control(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else b""
        req = urllib.request.Request(self.url + path, data=data if method == "POST" else None,
                                     method=method)
        with urllib.request.urlopen(req, timeout=10) as resp:
            self.assertEqual(resp.status, 200)
            return json.loads(resp.read() or b"{}")

    def put(self, repo: str, manifest: str, tag: str | None = None, blobs: bool = True,
            **kw) -> str:
        """PutImage, after uploading the blobs it names that image_manifest made
        (unless `blobs` is false), as docker and buildx push."""
        try:
            doc = json.loads(manifest)
        except ValueError:
            doc = None
        if blobs and isinstance(doc, dict):
            for entry in [doc.get("config")] + list(doc.get("layers") or []):
                if isinstance(entry, dict) and entry.get("digest") in BLOBS:
                    self.upload_once(repo, BLOBS[entry["digest"]])
        args = dict(repositoryName=repo, imageManifest=manifest, **kw)
        if tag:
            args["imageTag"] = tag
        return self.ecr.put_image(**args)["image"]["imageId"]["imageDigest"]

    def repo_with_image(self, repo: str = "app", tag: str = "v1", seed: str = "one",
                        mutability: str = "MUTABLE") -> tuple[str, str]:
        try:
            self.ecr.create_repository(repositoryName=repo, imageTagMutability=mutability)
        except ClientError as e:
            if e.response["Error"]["Code"] != "RepositoryAlreadyExistsException":
                raise
        manifest = image_manifest(seed)
        return self.put(repo, manifest, tag, imageDigest=sha(manifest)), manifest

    def create_function(self, name: str, uri: str, **kw) -> dict:
        return self.lam.create_function(
            FunctionName=name, Role=ROLE_ARN, PackageType="Image", Code={"ImageUri": uri}, **kw
        )

    def config(self, name: str, qualifier: str | None = None) -> dict:
        kw = {"Qualifier": qualifier} if qualifier else {}
        return self.lam.get_function_configuration(FunctionName=name, **kw)

    def wait_update(self, name: str) -> dict:
        time.sleep(UPDATE + 0.1)
        return self.config(name)

    def error(self, ctx: unittest.case._AssertRaisesContext) -> tuple[int, str, str, dict]:
        r = ctx.exception.response
        return (r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"],
                r["Error"]["Message"], r["ResponseMetadata"]["HTTPHeaders"])

    def function(self, name: str = "fn") -> tuple[str, str]:
        """A repository with two images and a settled function on the first."""
        d1, _ = self.repo_with_image("app", "v1", "one")
        d2, _ = self.repo_with_image("app", "v2", "two")
        self.create_function(name, f"{REGISTRY}/app:v1")
        self.assertEqual(self.config(name)["State"], "Active")
        return d1, d2

    # -- L1 -------------------------------------------------------------------

    def test_L1_update_in_progress_then_successful(self) -> None:
        _, d2 = self.function()
        resp = self.lam.update_function_code(FunctionName="fn", ImageUri=f"{REGISTRY}/app:v2")
        in_progress = ("Active", "InProgress", "The function is being created.", "Creating")

        def status(c: dict) -> tuple:
            return (c["State"], c["LastUpdateStatus"], c.get("LastUpdateStatusReason"),
                    c.get("LastUpdateStatusReasonCode"))

        self.assertEqual(status(resp), in_progress)
        self.assertEqual(resp["CodeSha256"], d2.split(":")[1])
        self.assertEqual(status(self.lam.get_function(FunctionName="fn")["Configuration"]), in_progress)
        self.assertEqual(status(self.config("fn")), in_progress)
        done = self.wait_update("fn")
        self.assertEqual(status(done), ("Active", "Successful", None, None))
        self.assertEqual(done["CodeSha256"], d2.split(":")[1])

    def test_L1_image_while_updating_new_or_old(self) -> None:
        d1, d2 = self.function()
        code = lambda: self.lam.get_function(FunctionName="fn")["Code"]["ResolvedImageUri"]
        # The default: the new image at once.
        self.lam.update_function_code(FunctionName="fn", ImageUri=f"{REGISTRY}/app:v2")
        self.assertTrue(code().endswith(d2))
        self.wait_update("fn")
        # "old": the image before the update until it ends, then the new one.
        self.control("POST", "/_emulator/lambda/functions/fn", {"image_while_updating": "old"})
        self.lam.update_function_code(FunctionName="fn", ImageUri=f"{REGISTRY}/app:v1")
        self.assertTrue(code().endswith(d2))
        self.wait_update("fn")
        self.assertTrue(code().endswith(d1))

    def test_L1_update_failed_with_reason(self) -> None:
        self.function()
        self.control("POST", "/_emulator/lambda/functions/fn",
                     {"outcome": "Failed", "reason_code": "ImageAccessDenied",
                      "reason": "Lambda does not have permission to access the ECR image."})
        self.lam.update_function_code(FunctionName="fn", ImageUri=f"{REGISTRY}/app:v2")
        self.assertEqual(self.config("fn")["LastUpdateStatus"], "InProgress")
        done = self.wait_update("fn")
        self.assertEqual(done["State"], "Active")
        self.assertEqual(done["LastUpdateStatus"], "Failed")
        self.assertEqual(done["LastUpdateStatusReasonCode"], "ImageAccessDenied")
        self.assertEqual(done["LastUpdateStatusReason"],
                         "Lambda does not have permission to access the ECR image.")
        # Settings stay until changed; defaults apply to other functions.
        self.control("POST", "/_emulator/lambda/functions/fn", {"outcome": "Successful"})
        self.lam.update_function_code(FunctionName="fn", ImageUri=f"{REGISTRY}/app:v1")
        self.assertEqual(self.wait_update("fn")["LastUpdateStatus"], "Successful")

    def test_L1_durations_per_function_and_defaults(self) -> None:
        self.function()
        self.control("POST", "/_emulator/lambda/defaults", {"update_seconds": 0})
        self.lam.update_function_code(FunctionName="fn", ImageUri=f"{REGISTRY}/app:v2")
        self.assertEqual(self.config("fn")["LastUpdateStatus"], "Successful")
        self.control("POST", "/_emulator/lambda/functions/fn", {"update_seconds": 0.3})
        self.lam.update_function_code(FunctionName="fn", ImageUri=f"{REGISTRY}/app:v1")
        self.assertEqual(self.config("fn")["LastUpdateStatus"], "InProgress")
        time.sleep(0.35)
        self.assertEqual(self.config("fn")["LastUpdateStatus"], "Successful")

    def test_L1_update_configuration_in_progress(self) -> None:
        self.function()
        resp = self.lam.update_function_configuration(FunctionName="fn", MemorySize=256)
        self.assertEqual((resp["LastUpdateStatus"], resp["LastUpdateStatusReasonCode"]),
                         ("InProgress", "Creating"))
        self.assertEqual(self.config("fn")["LastUpdateStatus"], "InProgress")
        self.assertEqual(self.wait_update("fn")["LastUpdateStatus"], "Successful")

    def test_L1_architectures_on_update(self) -> None:
        self.function()
        resp = self.lam.update_function_code(FunctionName="fn", ImageUri=f"{REGISTRY}/app:v2",
                                             Architectures=["arm64"])
        self.assertEqual(resp["Architectures"], ["arm64"])

    # -- L14 ------------------------------------------------------------------

    CAPACITY = {"LambdaManagedInstancesCapacityProviderConfig": {
        "CapacityProviderArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:capacity-provider:cp"}}

    def test_L14_latest_is_not_invocable_and_latest_published_is(self) -> None:
        self.repo_with_image("app", "v1", "one")
        d2 = self.repo_with_image("app", "v2", "two")[0]
        self.create_function("mi", f"{REGISTRY}/app:v1", CapacityProviderConfig=self.CAPACITY)
        latest = self.config("mi")
        self.assertEqual(latest["State"], "ActiveNonInvocable")
        self.assertEqual(
            latest["CapacityProviderConfig"]["LambdaManagedInstancesCapacityProviderConfig"]
            ["PerExecutionEnvironmentMaxConcurrency"], 16)
        with self.assertRaises(ClientError) as ctx:
            self.config("mi", "$LATEST.PUBLISHED")
        self.assertEqual(self.error(ctx)[:2], (404, "ResourceNotFoundException"))
        with self.assertRaises(ClientError) as ctx:
            self.lam.invoke(FunctionName="mi")
        self.assertEqual(self.error(ctx)[:2], (400, "NoPublishedVersionException"))

        self.control("POST", "/_emulator/lambda/functions/mi", {"provision_seconds": 1.0})
        answer = self.lam.update_function_code(
            FunctionName="mi", ImageUri=f"{REGISTRY}/app:v2", Publish=True, PublishTo="LATEST_PUBLISHED")
        self.assertEqual((answer["Version"], answer["State"], answer["LastUpdateStatus"]),
                         ("$LATEST.PUBLISHED", "Active", "InProgress"))
        self.assertTrue(answer["FunctionArn"].endswith(":mi:$LATEST.PUBLISHED"))
        self.assertEqual(self.config("mi")["LastUpdateStatus"], "InProgress")
        time.sleep(UPDATE + 0.1)
        # $LATEST has settled; $LATEST.PUBLISHED waits for its instances.
        self.assertEqual(self.config("mi")["LastUpdateStatus"], "Successful")
        self.assertEqual(self.config("mi", "$LATEST.PUBLISHED")["LastUpdateStatus"], "InProgress")
        time.sleep(1.0)
        published = self.lam.get_function(FunctionName="mi", Qualifier="$LATEST.PUBLISHED")
        self.assertEqual(published["Configuration"]["LastUpdateStatus"], "Successful")
        self.assertTrue(published["Code"]["ResolvedImageUri"].endswith(d2))
        # An unqualified invoke runs $LATEST.PUBLISHED; $LATEST is refused.
        self.assertEqual(self.lam.invoke(FunctionName="mi")["ExecutedVersion"], "$LATEST.PUBLISHED")
        with self.assertRaises(ClientError) as ctx:
            self.lam.invoke(FunctionName="mi", Qualifier="$LATEST")
        self.assertEqual(self.error(ctx)[:2], (400, "InvalidParameterValueException"))
        # A later update of $LATEST alone leaves $LATEST.PUBLISHED as it was.
        self.lam.update_function_code(FunctionName="mi", ImageUri=f"{REGISTRY}/app:v1")
        time.sleep(UPDATE + 0.1)
        self.assertTrue(self.lam.get_function(FunctionName="mi", Qualifier="$LATEST.PUBLISHED")
                        ["Code"]["ResolvedImageUri"].endswith(d2))

    def test_L14_numbered_versions_wait_for_instances(self) -> None:
        self.repo_with_image("app", "v1", "one")
        self.repo_with_image("app", "v2", "two")
        self.create_function("mi", f"{REGISTRY}/app:v1", CapacityProviderConfig=self.CAPACITY)
        self.control("POST", "/_emulator/lambda/functions/mi", {"provision_seconds": 1.0})
        answer = self.lam.update_function_code(FunctionName="mi", ImageUri=f"{REGISTRY}/app:v2", Publish=True)
        self.assertEqual((answer["Version"], answer["State"]), ("1", "Pending"))
        time.sleep(UPDATE + 0.1)
        self.assertEqual(self.config("mi", "1")["State"], "Pending")
        time.sleep(1.0)
        self.assertEqual(self.config("mi", "1")["State"], "Active")

    def test_L14_bad_capacity_provider_and_publish_to_refused(self) -> None:
        self.repo_with_image("app", "v1", "one")
        with self.assertRaises(ClientError) as ctx:
            self.create_function("mi", f"{REGISTRY}/app:v1", CapacityProviderConfig={
                "LambdaManagedInstancesCapacityProviderConfig": {"CapacityProviderArn": "cp"}})
        self.assertEqual(self.error(ctx)[:2], (400, "ValidationException"))
        self.create_function("fn", f"{REGISTRY}/app:v1")
        self.assertNotIn("CapacityProviderConfig", self.config("fn"))
        self.assertEqual(self.config("fn")["State"], "Active")

    # -- L2 -------------------------------------------------------------------

    def test_L2_new_function_pending_then_active(self) -> None:
        self.repo_with_image()
        self.control("POST", "/_emulator/lambda/functions/fresh", {"pending_seconds": 0.4})
        created = self.create_function("fresh", f"{REGISTRY}/app:v1")
        self.assertEqual(created["State"], "Pending")
        for got in (self.config("fresh"), self.lam.get_function(FunctionName="fresh")["Configuration"]):
            self.assertEqual(got["State"], "Pending")
            self.assertEqual(got["StateReason"], "The function is being created.")
            self.assertEqual(got["StateReasonCode"], "Creating")
            self.assertNotIn("LastUpdateStatus", got)
        time.sleep(0.5)
        got = self.config("fresh")
        self.assertEqual((got["State"], got["LastUpdateStatus"]), ("Active", "Successful"))
        self.assertNotIn("StateReasonCode", got)

    # -- L3 -------------------------------------------------------------------

    def test_L3_update_refused_while_pending(self) -> None:
        self.repo_with_image()
        self.control("POST", "/_emulator/lambda/defaults", {"pending_seconds": 0.4})
        self.create_function("fresh", f"{REGISTRY}/app:v1")
        with self.assertRaises(ClientError) as ctx:
            self.lam.update_function_code(FunctionName="fresh", ImageUri=f"{REGISTRY}/app:v1")
        status, code, message, headers = self.error(ctx)
        self.assertEqual((status, code), (409, "ResourceConflictException"))
        self.assertEqual(headers.get("x-amzn-errortype"), "ResourceConflictException")
        arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fresh"
        self.assertEqual(message, "The operation cannot be performed at this time. The resource "
                         f"{arn} is currently in the following state: 'Pending'. "
                         "StateReasonCode: 'Creating'")
        time.sleep(0.5)
        self.lam.update_function_code(FunctionName="fresh", ImageUri=f"{REGISTRY}/app:v1")

    def test_L3_update_refused_while_in_progress(self) -> None:
        self.function()
        self.lam.update_function_code(FunctionName="fn", ImageUri=f"{REGISTRY}/app:v2")
        arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn"
        for call in (
            lambda: self.lam.update_function_code(FunctionName="fn", ImageUri=f"{REGISTRY}/app:v1"),
            lambda: self.lam.update_function_configuration(FunctionName="fn", MemorySize=512),
            lambda: self.lam.publish_version(FunctionName="fn"),
        ):
            with self.assertRaises(ClientError) as ctx:
                call()
            status, code, message, headers = self.error(ctx)
            self.assertEqual((status, code), (409, "ResourceConflictException"))
            self.assertEqual(message, "The operation cannot be performed at this time. "
                             f"An update is in progress for resource: {arn}")
        # The refused update changed nothing.
        done = self.wait_update("fn")
        self.assertEqual(done["LastUpdateStatus"], "Successful")
        code = self.lam.get_function(FunctionName="fn")["Code"]
        self.assertTrue(code["ImageUri"].endswith(":v2"))

    def test_L3_error_body_shape(self) -> None:
        self.function()
        self.lam.update_function_code(FunctionName="fn", ImageUri=f"{REGISTRY}/app:v2")
        # An unsigned raw request, to see the body as the Rust SDK would.
        req = urllib.request.Request(
            f"{self.url}/2015-03-31/functions/fn/code", method="PUT",
            data=json.dumps({"ImageUri": f"{REGISTRY}/app:v1"}).encode(),
            headers={"Content-Type": "application/json",
                     "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20250101/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=x"},
        )
        with self.assertRaises(urllib.error.HTTPError) as ctx:
            urllib.request.urlopen(req, timeout=10)
        self.assertEqual(ctx.exception.code, 409)
        self.assertEqual(ctx.exception.headers["x-amzn-ErrorType"], "ResourceConflictException")
        body = json.loads(ctx.exception.read())
        self.assertEqual(body["Type"], "User")
        self.assertIn("An update is in progress", body["message"])

    # -- L4 -------------------------------------------------------------------

    def test_L4_revision_id(self) -> None:
        self.function()
        first = self.lam.get_function(FunctionName="fn")["Configuration"]["RevisionId"]
        self.assertEqual(self.config("fn")["RevisionId"], first)
        with self.assertRaises(ClientError) as ctx:
            self.lam.update_function_code(FunctionName="fn", ImageUri=f"{REGISTRY}/app:v2",
                                          RevisionId="00000000-0000-0000-0000-000000000000")
        status, code, message, _ = self.error(ctx)
        self.assertEqual((status, code), (412, "PreconditionFailedException"))
        self.assertEqual(message, "The Revision Id provided does not match the latest Revision Id. "
                         "Call the GetFunction/GetAlias API to retrieve the latest Revision Id")
        resp = self.lam.update_function_code(FunctionName="fn", ImageUri=f"{REGISTRY}/app:v2",
                                             RevisionId=first)
        second = resp["RevisionId"]
        self.assertNotEqual(second, first)
        self.assertEqual(self.lam.get_function(FunctionName="fn")["Configuration"]["RevisionId"], second)
        self.wait_update("fn")
        third = self.lam.update_function_configuration(FunctionName="fn", Timeout=9)["RevisionId"]
        self.assertNotIn(third, (first, second))
        self.wait_update("fn")
        with self.assertRaises(ClientError) as ctx:
            self.lam.update_function_configuration(FunctionName="fn", Timeout=10, RevisionId=first)
        self.assertEqual(self.error(ctx)[:2], (412, "PreconditionFailedException"))
        with self.assertRaises(ClientError) as ctx:
            self.lam.publish_version(FunctionName="fn", RevisionId=second)
        self.assertEqual(self.error(ctx)[:2], (412, "PreconditionFailedException"))
        # The RevisionId changed again when the update ended: the one read
        # mid-update (the answer's) is refused now.
        with self.assertRaises(ClientError) as ctx:
            self.lam.publish_version(FunctionName="fn", RevisionId=third)
        self.assertEqual(self.error(ctx)[:2], (412, "PreconditionFailedException"))
        settled = self.config("fn")["RevisionId"]
        self.assertNotIn(settled, (first, second, third))
        version = self.lam.publish_version(FunctionName="fn", RevisionId=settled)
        self.assertNotIn(version["RevisionId"], (first, second, third, settled))
        # Publishing a version changes $LATEST's RevisionId too (recorded);
        # the version's own stays.
        after = self.config("fn")["RevisionId"]
        self.assertNotIn(after, (settled, version["RevisionId"]))
        self.assertEqual(self.config("fn", version["Version"])["RevisionId"], version["RevisionId"])

    def test_L4_revision_changes_when_a_new_function_turns_active(self) -> None:
        self.repo_with_image()
        self.control("POST", "/_emulator/lambda/functions/fresh", {"pending_seconds": 0.3})
        created = self.create_function("fresh", f"{REGISTRY}/app:v1")
        self.assertEqual(self.config("fresh")["RevisionId"], created["RevisionId"])
        time.sleep(0.4)
        active = self.config("fresh")
        self.assertEqual(active["State"], "Active")
        self.assertNotEqual(active["RevisionId"], created["RevisionId"])
        with self.assertRaises(ClientError) as ctx:
            self.lam.update_function_code(FunctionName="fresh", ImageUri=f"{REGISTRY}/app:v1",
                                          RevisionId=created["RevisionId"])
        self.assertEqual(self.error(ctx)[:2], (412, "PreconditionFailedException"))

    # -- L5 -------------------------------------------------------------------

    def test_L5_resolved_image_uri(self) -> None:
        d_nested, _ = self.repo_with_image("team/app", "v1", "nested")
        self.repo_with_image("app", "v1", "flat")  # same tag, other repository
        self.create_function("bytag", f"{REGISTRY}/team/app:v1")
        code = self.lam.get_function(FunctionName="bytag")["Code"]
        self.assertEqual(code["ImageUri"], f"{REGISTRY}/team/app:v1")
        self.assertEqual(code["ResolvedImageUri"], f"{REGISTRY}/team/app@{d_nested}")
        self.assertEqual(self.config("bytag")["CodeSha256"], d_nested.split(":")[1])
        self.create_function("bydigest", f"{REGISTRY}/team/app@{d_nested}")
        code = self.lam.get_function(FunctionName="bydigest")["Code"]
        self.assertEqual(code["ImageUri"], f"{REGISTRY}/team/app@{d_nested}")
        self.assertEqual(code["ResolvedImageUri"], f"{REGISTRY}/team/app@{d_nested}")

    def test_L5_index_and_attestation_refused(self) -> None:
        child, _ = self.repo_with_image("app", None, "child")
        # A buildx attestation manifest: in-toto layers.
        attestation = image_manifest("att", layer_type="application/vnd.in-toto+json")
        att = self.put("app", attestation, imageDigest=sha(attestation))
        index = index_manifest([child, att])
        self.put("app", index, "multi", imageDigest=sha(index))
        self.create_function("fn", f"{REGISTRY}/app@{child}")
        for uri in (f"{REGISTRY}/app:multi", f"{REGISTRY}/app@{sha(index)}", f"{REGISTRY}/app@{att}"):
            with self.assertRaises(ClientError) as ctx:
                self.lam.update_function_code(FunctionName="fn", ImageUri=uri)
            status, code, message, _ = self.error(ctx)
            self.assertEqual((status, code), (400, "InvalidParameterValueException"))
            self.assertEqual(message, f"The image manifest, config or layer media type for the "
                             f"source image {uri} is not supported.")
        with self.assertRaises(ClientError) as ctx:
            self.create_function("other", f"{REGISTRY}/app:multi")
        self.assertEqual(self.error(ctx)[:2], (400, "InvalidParameterValueException"))
        # DryRun validates too, and a valid DryRun changes nothing.
        with self.assertRaises(ClientError) as ctx:
            self.lam.update_function_code(FunctionName="fn", ImageUri=f"{REGISTRY}/app:multi", DryRun=True)
        self.assertEqual(self.error(ctx)[:2], (400, "InvalidParameterValueException"))
        before = self.config("fn")
        self.lam.update_function_code(FunctionName="fn", ImageUri=f"{REGISTRY}/app@{child}",
                                      DryRun=True)
        after = self.config("fn")
        self.assertEqual((after["RevisionId"], after["LastUpdateStatus"]), (before["RevisionId"], "Successful"))

    def test_L5_missing_image_refused(self) -> None:
        self.function()
        missing = "sha256:" + "0" * 64
        for uri in (f"{REGISTRY}/app:nope", f"{REGISTRY}/app@{missing}", f"{REGISTRY}/norepo:v1"):
            with self.assertRaises(ClientError) as ctx:
                self.lam.update_function_code(FunctionName="fn", ImageUri=uri)
            status, code, message, _ = self.error(ctx)
            self.assertEqual((status, code), (400, "InvalidParameterValueException"))
            self.assertEqual(message, f"Source image {uri} does not exist. Provide a valid source image.")
        uri = f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/app:v1"
        with self.assertRaises(ClientError) as ctx:
            self.lam.update_function_code(FunctionName="fn", ImageUri=uri)
        self.assertEqual(self.error(ctx)[2], f"Source image {uri} is not valid. Provide a valid source image.")
        # Nothing changed, and a refused update starts no update.
        self.assertEqual(self.config("fn")["LastUpdateStatus"], "Successful")

    def test_L5_zip_function_refuses_image_uri(self) -> None:
        self.repo_with_image()
        import io, zipfile
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("index.py", "def handler(e, c):\n    return 1\n")
        self.lam.create_function(FunctionName="zipped", Role=ROLE_ARN, Runtime="python3.12",
                                 Handler="index.handler", Code={"ZipFile": buf.getvalue()})
        with self.assertRaises(ClientError) as ctx:
            self.lam.update_function_code(FunctionName="zipped", ImageUri=f"{REGISTRY}/app:v1")
        self.assertEqual(self.error(ctx)[:2], (400, "InvalidParameterValueException"))

    def test_L5_uri_without_tag_or_digest_refused(self) -> None:
        self.function()
        self.repo_with_image("app", "latest", "latest")
        uri = f"{REGISTRY}/app"
        for call in (lambda: self.lam.update_function_code(FunctionName="fn", ImageUri=uri),
                     lambda: self.create_function("other", uri)):
            with self.assertRaises(ClientError) as ctx:
                call()
            self.assertEqual(self.error(ctx)[:3], (400, "InvalidParameterValueException",
                             f"Source image {uri} is not valid. Provide a valid source image."))

    # -- L6 -------------------------------------------------------------------

    def test_L6_versions_keep_their_code(self) -> None:
        d1, d2 = self.function()
        v1 = self.lam.publish_version(FunctionName="fn")["Version"]
        self.wait_update("fn")
        resp = self.lam.update_function_code(FunctionName="fn", ImageUri=f"{REGISTRY}/app:v2",
                                             Publish=True)
        v2 = resp["Version"]
        self.assertEqual((v1, v2), ("1", "2"))
        one = self.lam.get_function(FunctionName="fn", Qualifier=v1)
        two = self.lam.get_function(FunctionName="fn", Qualifier=v2)
        latest = self.lam.get_function(FunctionName="fn")
        self.assertEqual(one["Code"]["ImageUri"], f"{REGISTRY}/app:v1")
        self.assertEqual(one["Code"]["ResolvedImageUri"], f"{REGISTRY}/app@{d1}")
        self.assertEqual(one["Configuration"]["CodeSha256"], d1.split(":")[1])
        self.assertEqual(two["Code"]["ImageUri"], f"{REGISTRY}/app:v2")
        self.assertEqual(two["Code"]["ResolvedImageUri"], f"{REGISTRY}/app@{d2}")
        self.assertEqual(two["Configuration"]["CodeSha256"], d2.split(":")[1])
        self.assertEqual(latest["Code"]["ResolvedImageUri"], f"{REGISTRY}/app@{d2}")

    # -- L7 -------------------------------------------------------------------

    def test_L7_list_functions_pages(self) -> None:
        self.repo_with_image()
        self.control("POST", "/_emulator/lambda/defaults", {"update_seconds": 0})
        names = {f"f{i:02}" for i in range(51)}
        for name in names:
            self.create_function(name, f"{REGISTRY}/app:v1")
        first = self.lam.list_functions()
        self.assertEqual(len(first["Functions"]), 50)
        rest = self.lam.list_functions(Marker=first["NextMarker"])
        self.assertEqual(len(rest["Functions"]), 1)
        self.assertNotIn("NextMarker", rest)
        small = self.lam.list_functions(MaxItems=20)
        self.assertEqual(len(small["Functions"]), 20)
        seen = set()
        for page in self.lam.get_paginator("list_functions").paginate(PaginationConfig={"PageSize": 7}):
            seen |= {f["FunctionName"] for f in page["Functions"]}
        self.assertEqual(seen, names)

    def test_L7_list_entries_carry_no_status(self) -> None:
        self.function()
        self.lam.update_function_code(FunctionName="fn", ImageUri=f"{REGISTRY}/app:v2")
        self.wait_update("fn")
        self.lam.publish_version(FunctionName="fn")
        entries = (self.lam.list_functions()["Functions"]
                   + self.lam.list_versions_by_function(FunctionName="fn")["Versions"])
        self.assertEqual(len(entries), 3)
        for entry in entries:
            for key in ("State", "StateReason", "StateReasonCode", "LastUpdateStatus",
                        "LastUpdateStatusReason", "LastUpdateStatusReasonCode"):
                self.assertNotIn(key, entry)
            self.assertIn("RevisionId", entry)

    def test_L7_max_items_and_version_pages(self) -> None:
        self.function()
        self.control("POST", "/_emulator/lambda/defaults", {"update_seconds": 0})
        for i in range(52):
            self.lam.update_function_configuration(FunctionName="fn", Timeout=10 + i)
            self.lam.publish_version(FunctionName="fn")
        # 10000 is accepted; an answer still holds at most 50.
        first = self.lam.list_versions_by_function(FunctionName="fn", MaxItems=10000)
        self.assertEqual(len(first["Versions"]), 50)
        rest = self.lam.list_versions_by_function(FunctionName="fn", Marker=first["NextMarker"])
        self.assertEqual(len(rest["Versions"]), 3)  # $LATEST + 52 versions
        self.assertNotIn("NextMarker", rest)
        self.assertEqual(len(self.lam.list_functions(MaxItems=10000)["Functions"]), 1)
        small = self.lam.list_versions_by_function(FunctionName="fn", MaxItems=5)
        self.assertEqual([v["Version"] for v in small["Versions"]], ["$LATEST", "1", "2", "3", "4"])
        seen = []
        for page in self.lam.get_paginator("list_versions_by_function").paginate(
                FunctionName="fn", PaginationConfig={"PageSize": 20}):
            seen += [v["Version"] for v in page["Versions"]]
        self.assertEqual(seen, ["$LATEST"] + [str(i) for i in range(1, 53)])
        strict = boto3.client("lambda", endpoint_url=self.url, region_name=REGION,
                              aws_access_key_id="testing", aws_secret_access_key="testing",
                              config=Config(parameter_validation=False, retries={"max_attempts": 1}))
        for call in (lambda: strict.list_functions(MaxItems=10001),
                     lambda: strict.list_versions_by_function(FunctionName="fn", MaxItems=0)):
            with self.assertRaises(ClientError) as ctx:
                call()
            self.assertEqual(self.error(ctx)[:2], (400, "ValidationException"))

    # -- L8 -------------------------------------------------------------------

    def versions(self, name: str = "fn", count: int = 2) -> list[str]:
        """A settled function with `count` published versions (other memory sizes)."""
        self.function(name)
        self.control("POST", f"/_emulator/lambda/functions/{name}", {"update_seconds": 0})
        out = []
        for i in range(count):
            self.lam.update_function_configuration(FunctionName=name, MemorySize=256 + i)
            out.append(self.lam.publish_version(FunctionName=name)["Version"])
        return out

    def test_L8_routing_config_stored_and_returned(self) -> None:
        v1, v2 = self.versions()
        created = self.lam.create_alias(FunctionName="fn", Name="live", FunctionVersion=v1,
                                        RoutingConfig={"AdditionalVersionWeights": {v2: 0.1}})
        self.assertEqual(created["ResponseMetadata"]["HTTPStatusCode"], 201)
        self.assertEqual(created["RoutingConfig"], {"AdditionalVersionWeights": {v2: 0.1}})
        got = self.lam.get_alias(FunctionName="fn", Name="live")
        self.assertEqual(got["ResponseMetadata"]["HTTPStatusCode"], 200)
        self.assertEqual((got["FunctionVersion"], got["RoutingConfig"], got["RevisionId"]),
                         (v1, {"AdditionalVersionWeights": {v2: 0.1}}, created["RevisionId"]))
        updated = self.lam.update_alias(FunctionName="fn", Name="live",
                                        RoutingConfig={"AdditionalVersionWeights": {v2: 0.5}})
        self.assertEqual(updated["ResponseMetadata"]["HTTPStatusCode"], 200)
        self.assertEqual(updated["RoutingConfig"], {"AdditionalVersionWeights": {v2: 0.5}})
        self.assertEqual(updated["FunctionVersion"], v1)
        listed = self.lam.list_aliases(FunctionName="fn")["Aliases"]
        self.assertEqual([(a["Name"], a.get("RoutingConfig")) for a in listed],
                         [("live", {"AdditionalVersionWeights": {v2: 0.5}})])
        # Promotion: the new version alone; an empty RoutingConfig removes the weights.
        done = self.lam.update_alias(FunctionName="fn", Name="live", FunctionVersion=v2,
                                     RoutingConfig={"AdditionalVersionWeights": {}})
        self.assertNotIn("RoutingConfig", done)
        self.assertNotIn("RoutingConfig", self.lam.get_alias(FunctionName="fn", Name="live"))
        self.assertEqual(self.lam.get_function(FunctionName="fn", Qualifier="live")["Configuration"]["Version"], v2)

    def test_L8_update_alias_revision_id(self) -> None:
        v1, v2 = self.versions()
        first = self.lam.create_alias(FunctionName="fn", Name="live", FunctionVersion=v1)["RevisionId"]
        second = self.lam.update_alias(FunctionName="fn", Name="live", RevisionId=first,
                                       RoutingConfig={"AdditionalVersionWeights": {v2: 0.2}})["RevisionId"]
        self.assertNotEqual(first, second)
        with self.assertRaises(ClientError) as ctx:
            self.lam.update_alias(FunctionName="fn", Name="live", RevisionId=first, FunctionVersion=v2)
        status, code, message, _ = self.error(ctx)
        self.assertEqual((status, code), (412, "PreconditionFailedException"))
        self.assertIn("Call the GetFunction/GetAlias API", message)
        got = self.lam.get_alias(FunctionName="fn", Name="live")
        self.assertEqual((got["FunctionVersion"], got["RevisionId"]), (v1, second))
        # Even an update that changes nothing makes a new RevisionId (recorded).
        third = self.lam.update_alias(FunctionName="fn", Name="live")["RevisionId"]
        self.assertNotIn(third, (first, second))
        with self.assertRaises(ClientError) as ctx:
            self.lam.update_alias(FunctionName="fn", Name="nope", FunctionVersion=v2)
        status, code, message, _ = self.error(ctx)
        self.assertEqual((status, code), (404, "ResourceNotFoundException"))
        self.assertEqual(message, f"Alias not found: arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn:nope")

    def test_L8_routing_config_refused_as_lambda_refuses_it(self) -> None:
        v1, v2 = self.versions()
        arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn"
        lam = boto3.client("lambda", endpoint_url=self.url, region_name=REGION,
                           aws_access_key_id="testing", aws_secret_access_key="testing",
                           config=Config(parameter_validation=False, retries={"max_attempts": 1}))
        cases = [
            ({"FunctionVersion": v1, "RoutingConfig": {"AdditionalVersionWeights": {v1: 0.8, v2: 0.2}}},
             400, "InvalidParameterValueException",
             "Number of items in AdditionalVersionWeights cannot be greater than 1"),
            ({"FunctionVersion": v1, "RoutingConfig": {"AdditionalVersionWeights": {v2: 2}}},
             400, "ValidationException",
             f"1 validation error detected: Value '{{{v2}=2.0}}' at 'routingConfig.additionalVersionWeights' "
             "failed to satisfy constraint: Map value must satisfy constraint: [Member must have value less "
             "than or equal to 1.0, Member must have value greater than or equal to 0.0, Member must not be null]"),
            ({"FunctionVersion": v1, "RoutingConfig": {"AdditionalVersionWeights": {v2: -1}}},
             400, "ValidationException", None),
            ({"FunctionVersion": v1, "RoutingConfig": {"AdditionalVersionWeights": {v1: 0.5}}},
             400, "InvalidParameterValueException",
             f"Invalid function version {v1}. Function version {v1} is already included in routing configuration."),
            ({"FunctionVersion": "10", "RoutingConfig": {"AdditionalVersionWeights": {v2: 0.5}}},
             404, "ResourceNotFoundException", f"Function not found: {arn}:10"),
            ({"FunctionVersion": v1, "RoutingConfig": {"AdditionalVersionWeights": {"10": 0.5}}},
             404, "ResourceNotFoundException", f"Function not found: {arn}:10"),
            ({"FunctionVersion": "$LATEST", "RoutingConfig": {"AdditionalVersionWeights": {v1: 0.5}}},
             400, "InvalidParameterValueException",
             "$LATEST is not supported for an alias pointing to more than 1 version"),
            ({"FunctionVersion": v1, "RoutingConfig": {"AdditionalVersionWeights": {"$LATEST": 0.5}}},
             400, "ValidationException",
             "1 validation error detected: Value '{$LATEST=0.5}' at 'routingConfig.additionalVersionWeights' "
             "failed to satisfy constraint: Map keys must satisfy constraint: [Member must have length less "
             "than or equal to 1024, Member must have length greater than or equal to 1, Member must satisfy "
             "regular expression pattern: [0-9]+]"),
        ]
        for kwargs, status, code, message in cases:
            with self.subTest(kwargs=kwargs):
                with self.assertRaises(ClientError) as ctx:
                    lam.create_alias(FunctionName="fn", Name="live", **kwargs)
                got = self.error(ctx)
                self.assertEqual(got[:2], (status, code))
                if message:
                    self.assertEqual(got[2], message)
        self.assertEqual(self.lam.list_aliases(FunctionName="fn")["Aliases"], [])
        # The same checks on UpdateAlias; a refused update changes nothing.
        alias = self.lam.create_alias(FunctionName="fn", Name="live", FunctionVersion=v1)
        for kwargs, status, code, _ in cases:
            with self.subTest(update=kwargs):
                with self.assertRaises(ClientError) as ctx:
                    lam.update_alias(FunctionName="fn", Name="live", **kwargs)
                self.assertEqual(self.error(ctx)[:2], (status, code))
        got = self.lam.get_alias(FunctionName="fn", Name="live")
        self.assertEqual((got["RevisionId"], got["FunctionVersion"]), (alias["RevisionId"], v1))
        self.assertNotIn("RoutingConfig", got)
        # Weights at the bounds are accepted.
        for weight in (0.0, 1.0):
            self.lam.update_alias(FunctionName="fn", Name="live",
                                  RoutingConfig={"AdditionalVersionWeights": {v2: weight}})

    def test_L8_versions_with_different_role_or_dlq_refused(self) -> None:
        iam = boto3.client("iam", endpoint_url=self.url, region_name=REGION,
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        other_role = iam.create_role(RoleName="other-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        v1, v2 = self.versions()
        self.lam.update_function_configuration(FunctionName="fn", Role=other_role)
        v3 = self.lam.publish_version(FunctionName="fn")["Version"]
        self.lam.update_function_configuration(
            FunctionName="fn", Role=ROLE_ARN,
            DeadLetterConfig={"TargetArn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:dlq"})
        v4 = self.lam.publish_version(FunctionName="fn")["Version"]
        # Every read shows the dead-letter queue kept (moto drops it).
        dlq = f"arn:aws:sqs:{REGION}:{ACCOUNT}:dlq"
        for qualifier, wanted in ((v4, dlq), ("$LATEST", dlq), (v1, None)):
            got = self.lam.get_function(FunctionName="fn", Qualifier=qualifier)["Configuration"]
            self.assertEqual(got.get("DeadLetterConfig", {}).get("TargetArn"), wanted, qualifier)
        self.lam.create_alias(FunctionName="fn", Name="live", FunctionVersion=v1)
        for other, message in (
            (v3, "Specified versions must be associated with the same execution role"),
            (v4, "Specified versions must be associated with the same dead letter queue configuration"),
        ):
            with self.assertRaises(ClientError) as ctx:
                self.lam.update_alias(FunctionName="fn", Name="live",
                                      RoutingConfig={"AdditionalVersionWeights": {other: 0.1}})
            self.assertEqual(self.error(ctx)[:3], (400, "InvalidParameterValueException", message))
        # A plain move to such a version (no weights) is fine.
        self.lam.update_alias(FunctionName="fn", Name="live", FunctionVersion=v3)
        self.lam.update_alias(FunctionName="fn", Name="live", FunctionVersion=v1,
                              RoutingConfig={"AdditionalVersionWeights": {v2: 0.1}})

    def test_control_alias_history(self) -> None:
        v1, v2 = self.versions()
        self.lam.create_alias(FunctionName="fn", Name="live", FunctionVersion=v1)
        self.lam.update_alias(FunctionName="fn", Name="live", RoutingConfig={"AdditionalVersionWeights": {v2: 0.1}})
        with self.assertRaises(ClientError):
            self.lam.update_alias(FunctionName="fn", Name="live", RevisionId="stale", FunctionVersion=v2)
        last = self.lam.update_alias(FunctionName="fn", Name="live", FunctionVersion=v2,
                                     RoutingConfig={"AdditionalVersionWeights": {}})
        history = self.control("GET", "/_emulator/lambda/functions/fn/aliases/live/history")["history"]
        self.assertEqual([(h["op"], h["function_version"], h["weights"]) for h in history],
                         [("create", v1, {}), ("update", v1, {v2: 0.1}), ("update", v2, {})])
        self.assertEqual(history[-1]["revision_id"], last["RevisionId"])
        self.assertLessEqual(history[0]["at"], history[1]["at"])
        self.assertLess(abs(history[-1]["at"] - time.time()), 5)
        self.assertEqual(self.control("GET", "/_emulator/lambda/functions/fn/aliases/other/history"),
                         {"history": []})

    # -- L9 -------------------------------------------------------------------

    def test_L9_invoke_default_and_configured_answers(self) -> None:
        v1, v2 = self.versions()
        got = self.lam.invoke(FunctionName="fn", Qualifier=v1, Payload=b'{"probe": 1}')
        self.assertEqual(got["StatusCode"], 200)
        self.assertNotIn("FunctionError", got)
        self.assertEqual(got["ExecutedVersion"], v1)
        self.assertEqual(json.loads(got["Payload"].read()), None)
        log = "x" * 5000 + "END of the log"
        self.control("POST", "/_emulator/lambda/functions/fn/invoke",
                     {"qualifier": v2, "function_error": "Unhandled",
                      "payload": {"errorMessage": "boom", "errorType": "Error"}, "log": log})
        self.control("POST", "/_emulator/lambda/functions/fn/invoke", {"qualifier": "*", "payload": {"ok": True}})
        bad = self.lam.invoke(FunctionName="fn", Qualifier=v2, LogType="Tail", Payload=b'{"probe": 2}')
        self.assertEqual((bad["StatusCode"], bad["FunctionError"]), (200, "Unhandled"))
        self.assertEqual(json.loads(bad["Payload"].read()), {"errorMessage": "boom", "errorType": "Error"})
        tail = base64.b64decode(bad["LogResult"])
        self.assertEqual(tail, log.encode()[-4096:])
        good = self.lam.invoke(FunctionName="fn", Qualifier=v1)
        self.assertEqual(json.loads(good["Payload"].read()), {"ok": True})
        self.assertNotIn("LogResult", good)
        calls = self.control("GET", "/_emulator/lambda/functions/fn/invocations")["invocations"]
        self.assertEqual([(c["qualifier"], c["executed_version"], c["payload"], c["status"]) for c in calls],
                         [(v1, v1, {"probe": 1}, 200), (v2, v2, {"probe": 2}, 200), (v1, v1, None, 200)])
        self.assertLess(abs(calls[-1]["at"] - time.time()), 5)
        # An error status with its error type.
        self.control("POST", "/_emulator/lambda/functions/fn/invoke",
                     {"qualifier": v1, "status": 429, "error_type": "TooManyRequestsException",
                      "payload": {"Type": "User", "message": "Rate Exceeded."}})
        with self.assertRaises(ClientError) as ctx:
            self.lam.invoke(FunctionName="fn", Qualifier=v1)
        self.assertEqual(self.error(ctx)[:2], (429, "TooManyRequestsException"))

    def test_L9_invoke_through_a_weighted_alias_records_the_version_run(self) -> None:
        v1, v2 = self.versions()
        self.lam.create_alias(FunctionName="fn", Name="live", FunctionVersion=v1,
                              RoutingConfig={"AdditionalVersionWeights": {v2: 1.0}})
        got = self.lam.invoke(FunctionName="fn", Qualifier="live")
        self.assertEqual(got["ExecutedVersion"], v2)
        self.lam.update_alias(FunctionName="fn", Name="live", RoutingConfig={"AdditionalVersionWeights": {v2: 0.0}})
        self.assertEqual(self.lam.invoke(FunctionName="fn:live")["ExecutedVersion"], v1)
        calls = self.control("GET", "/_emulator/lambda/functions/fn/invocations")["invocations"]
        self.assertEqual([(c["qualifier"], c["executed_version"]) for c in calls], [("live", v2), ("live", v1)])

    def test_L9_invoke_of_a_pending_version_refused(self) -> None:
        self.function()
        resp = self.lam.update_function_code(FunctionName="fn", ImageUri=f"{REGISTRY}/app:v2", Publish=True)
        with self.assertRaises(ClientError) as ctx:
            self.lam.invoke(FunctionName="fn", Qualifier=resp["Version"])
        status, code, message, _ = self.error(ctx)
        self.assertEqual((status, code), (409, "ResourceConflictException"))
        self.assertIn("'Pending'", message)
        time.sleep(UPDATE + 0.1)
        self.assertEqual(self.lam.invoke(FunctionName="fn", Qualifier=resp["Version"])["StatusCode"], 200)
        statuses = [c["status"] for c in self.control("GET", "/_emulator/lambda/functions/fn/invocations")["invocations"]]
        self.assertEqual(statuses, [409, 200])

    # -- L10 ------------------------------------------------------------------

    def test_L10_publish_version_is_active_at_once(self) -> None:
        self.function()
        self.lam.update_function_configuration(FunctionName="fn", MemorySize=256)
        self.wait_update("fn")
        version = self.lam.publish_version(FunctionName="fn")
        self.assertEqual(version["Version"], "1")
        self.assertEqual((version["State"], version["LastUpdateStatus"]), ("Active", "Successful"))
        got = self.config("fn", "1")
        self.assertEqual((got["State"], got["LastUpdateStatus"], got["RevisionId"]),
                         ("Active", "Successful", version["RevisionId"]))
        # Nothing changed since: the same version comes back.
        again = self.lam.publish_version(FunctionName="fn", Description="other words")
        self.assertEqual((again["Version"], again["RevisionId"]), ("1", version["RevisionId"]))
        updates = self.control("GET", "/_emulator/lambda/functions/fn/updates")["updates"]
        self.assertEqual([u["version"] for u in updates], ["$LATEST"])

    def test_L10_publish_version_code_sha256_precondition(self) -> None:
        d1, _ = self.function()
        with self.assertRaises(ClientError) as ctx:
            self.lam.publish_version(FunctionName="fn", CodeSha256="a" * 64)
        status, code, message, _ = self.error(ctx)
        self.assertEqual((status, code), (400, "InvalidParameterValueException"))
        hexdigest = d1.split(":")[1]
        self.assertEqual(message, f"CodeSHA256 ({'a' * 64}) is different from current CodeSHA256 in $LATEST "
                                  f"({hexdigest}). Please try again with the CodeSHA256 in $LATEST.")
        self.assertEqual(self.lam.list_versions_by_function(FunctionName="fn")["Versions"][-1]["Version"], "$LATEST")
        self.assertEqual(self.lam.publish_version(FunctionName="fn", CodeSha256=hexdigest)["Version"], "1")

    def test_L10_update_with_publish_answers_the_pending_version(self) -> None:
        d1, d2 = self.function()
        resp = self.lam.update_function_code(FunctionName="fn", ImageUri=f"{REGISTRY}/app:v2", Publish=True)
        self.assertEqual((resp["Version"], resp["State"], resp["StateReason"], resp["StateReasonCode"]),
                         ("1", "Pending", "The function is being created.", "Creating"))
        self.assertNotIn("LastUpdateStatus", resp)
        self.assertEqual(resp["CodeSha256"], d2.split(":")[1])
        version = self.config("fn", "1")
        self.assertEqual(version["State"], "Pending")
        self.assertNotIn("LastUpdateStatus", version)
        latest = self.config("fn")
        self.assertEqual((latest["State"], latest["LastUpdateStatus"]), ("Active", "InProgress"))
        self.assertNotEqual(latest["RevisionId"], version["RevisionId"])
        time.sleep(UPDATE + 0.1)
        version = self.config("fn", "1")
        self.assertEqual((version["State"], version["LastUpdateStatus"]), ("Active", "Successful"))
        self.assertNotIn("StateReasonCode", version)
        self.assertNotEqual(version["RevisionId"], resp["RevisionId"])

    def test_L10_update_with_publish_that_fails(self) -> None:
        self.function()
        self.control("POST", "/_emulator/lambda/functions/fn",
                     {"outcome": "Failed", "reason_code": "ImageAccessDenied", "reason": "No access."})
        resp = self.lam.update_function_code(FunctionName="fn", ImageUri=f"{REGISTRY}/app:v2", Publish=True)
        time.sleep(UPDATE + 0.1)
        version = self.config("fn", resp["Version"])
        self.assertEqual((version["State"], version["StateReasonCode"], version["StateReason"]),
                         ("Failed", "ImageAccessDenied", "No access."))
        self.assertEqual(self.config("fn")["LastUpdateStatus"], "Failed")

    # -- E7 -------------------------------------------------------------------

    def test_E7_digest_is_sha256_of_exact_bytes(self) -> None:
        self.ecr.create_repository(repositoryName="app")
        manifest = image_manifest("exact")
        digest = self.put("app", manifest, "v1")  # no imageDigest given
        self.assertEqual(digest, sha(manifest))
        got = self.ecr.batch_get_image(repositoryName="app", imageIds=[{"imageTag": "v1"}])
        self.assertEqual(got["images"][0]["imageId"]["imageDigest"], sha(manifest))
        self.assertEqual(got["images"][0]["imageManifest"], manifest)
        details = self.ecr.describe_images(repositoryName="app")["imageDetails"]
        self.assertEqual([d["imageDigest"] for d in details], [sha(manifest)])
        listed = self.ecr.list_images(repositoryName="app")["imageIds"]
        self.assertEqual(listed, [{"imageDigest": sha(manifest), "imageTag": "v1"}])

    def test_E7_digest_mismatch_refused(self) -> None:
        self.ecr.create_repository(repositoryName="app")
        manifest = image_manifest("x")
        with self.assertRaises(ClientError) as ctx:
            self.put("app", manifest, "v1", imageDigest="sha256:" + "1" * 64)
        self.assertEqual(self.error(ctx)[:2], (400, "ImageDigestDoesNotMatchException"))
        self.assertEqual(self.ecr.describe_images(repositoryName="app")["imageDetails"], [])

    def test_E7_immutable_tag_refused(self) -> None:
        self.repo_with_image("locked", "v1", "one", mutability="IMMUTABLE")
        other = image_manifest("two")
        with self.assertRaises(ClientError) as ctx:
            self.put("locked", other, "v1", imageDigest=sha(other))
        status, code, message, _ = self.error(ctx)
        self.assertEqual((status, code), (400, "ImageTagAlreadyExistsException"))
        self.assertIn("'v1'", message)
        # A new tag on an immutable repository is fine.
        self.put("locked", other, "v2", imageDigest=sha(other))

    def test_E7_same_manifest_same_tag_already_exists(self) -> None:
        digest, manifest = self.repo_with_image()
        with self.assertRaises(ClientError) as ctx:
            self.put("app", manifest, "v1", imageDigest=digest)
        self.assertEqual(self.error(ctx)[:2], (400, "ImageAlreadyExistsException"))
        # The same manifest under a second tag: one image, two tags.
        self.put("app", manifest, "also", imageDigest=digest)
        details = self.ecr.describe_images(repositoryName="app")["imageDetails"]
        self.assertEqual(len(details), 1)
        self.assertEqual(sorted(details[0]["imageTags"]), ["also", "v1"])

    def test_E7_moving_a_tag_leaves_the_old_image_untagged(self) -> None:
        old, _ = self.repo_with_image("app", "latest", "old")
        index = index_manifest([old])
        old_index = self.put("app", index, "multi", imageDigest=sha(index))
        second, _ = self.repo_with_image("app", "second", "second")
        index2 = index_manifest([old, second])
        self.put("app", index2, "multi", imageDigest=sha(index2))
        details = {d["imageDigest"]: d for d in self.ecr.describe_images(repositoryName="app")["imageDetails"]}
        self.assertIn(old_index, details)
        self.assertNotIn("imageTags", details[old_index])
        got = self.ecr.batch_get_image(repositoryName="app", imageIds=[{"imageDigest": old_index}])
        self.assertEqual(got["failures"], [])
        self.assertEqual(got["images"][0]["imageManifest"], index)
        self.assertEqual(got["images"][0]["imageId"], {"imageDigest": old_index})
        untagged = self.ecr.list_images(repositoryName="app", filter={"tagStatus": "UNTAGGED"})["imageIds"]
        self.assertEqual(untagged, [{"imageDigest": old_index}])

    def test_E7_batch_get_image_echoes_the_tag_asked_for(self) -> None:
        digest, manifest = self.repo_with_image("app", "v1")
        self.put("app", manifest, "v2", imageDigest=digest)
        for tag in ("v1", "v2"):
            got = self.ecr.batch_get_image(repositoryName="app", imageIds=[{"imageTag": tag}])
            self.assertEqual(got["images"][0]["imageId"], {"imageTag": tag, "imageDigest": digest})
        got = self.ecr.batch_get_image(repositoryName="app",
                                       imageIds=[{"imageTag": "v1", "imageDigest": "sha256:" + "3" * 64},
                                                 {"imageTag": "nope"}])
        self.assertEqual(got["images"], [])
        self.assertEqual([f["failureCode"] for f in got["failures"]], ["ImageNotFound", "ImageNotFound"])
        self.assertEqual(got["failures"][1]["imageId"], {"imageTag": "nope"})
        other = image_manifest("other")
        d_other = self.put("app", other, "v3", imageDigest=sha(other))
        got = self.ecr.batch_get_image(repositoryName="app", imageIds=[{"imageTag": "v1", "imageDigest": d_other}])
        self.assertEqual(got["failures"][0]["failureCode"], "ImageTagDoesNotMatchDigest")

    # -- E8 -------------------------------------------------------------------

    def test_E8_list_image_referrers(self) -> None:
        subject, _ = self.repo_with_image("app", "v1", "subject")
        sbom = image_manifest("sbom", subject=subject, artifact_type="application/spdx+json",
                              annotations={"org.opencontainers.image.created": "2025-01-01T00:00:00Z"})
        sig = image_manifest("sig", subject=subject, config_type="application/vnd.dev.cosign.artifact.sig.v1+json")
        unrelated = image_manifest("other", subject="sha256:" + "4" * 64, artifact_type="application/spdx+json")
        for m in (sbom, sig, unrelated):
            self.put("app", m, imageDigest=sha(m))
        got = self.ecr.list_image_referrers(repositoryName="app", subjectId={"imageDigest": subject})
        refs = {r["digest"]: r for r in got["referrers"]}
        self.assertEqual(set(refs), {sha(sbom), sha(sig)})
        self.assertEqual(refs[sha(sbom)]["artifactType"], "application/spdx+json")
        self.assertEqual(refs[sha(sbom)]["mediaType"], OCI_MANIFEST)
        self.assertEqual(refs[sha(sbom)]["size"], len(sbom.encode()))
        self.assertEqual(refs[sha(sbom)]["annotations"], {"org.opencontainers.image.created": "2025-01-01T00:00:00Z"})
        self.assertEqual(refs[sha(sig)]["artifactType"], "application/vnd.dev.cosign.artifact.sig.v1+json")
        self.assertNotIn("nextToken", got)
        only = self.ecr.list_image_referrers(repositoryName="app", subjectId={"imageDigest": subject},
                                             filter={"artifactTypes": ["application/spdx+json"]})
        self.assertEqual([r["digest"] for r in only["referrers"]], [sha(sbom)])
        page1 = self.ecr.list_image_referrers(repositoryName="app", subjectId={"imageDigest": subject}, maxResults=1)
        self.assertEqual(len(page1["referrers"]), 1)
        page2 = self.ecr.list_image_referrers(repositoryName="app", subjectId={"imageDigest": subject},
                                              maxResults=1, nextToken=page1["nextToken"])
        self.assertEqual(len(page2["referrers"]), 1)
        self.assertNotIn("nextToken", page2)
        self.assertEqual({page1["referrers"][0]["digest"], page2["referrers"][0]["digest"]}, {sha(sbom), sha(sig)})
        with self.assertRaises(ClientError) as ctx:
            self.ecr.list_image_referrers(repositoryName="nope", subjectId={"imageDigest": subject})
        self.assertEqual(self.error(ctx)[:2], (400, "RepositoryNotFoundException"))

    # -- E12 ------------------------------------------------------------------

    def test_E12_describe_image_signing_status(self) -> None:
        digest, _ = self.repo_with_image("app", "v1", "signed")
        got = self.ecr.describe_image_signing_status(repositoryName="app", imageId={"imageDigest": digest})
        self.assertEqual(got["signingStatuses"], [])
        self.assertEqual(got["imageId"]["imageDigest"], digest)
        profile = "arn:aws:signer:us-east-1:123456789012:/signing-profiles/ci"
        self.control("POST", "/_emulator/ecr/signing", {
            "repository": "app", "digest": digest,
            "answers": [[{"signingProfileArn": profile, "status": "IN_PROGRESS"}],
                        [{"signingProfileArn": profile, "status": "COMPLETE"}]]})
        statuses = lambda **kw: self.ecr.describe_image_signing_status(repositoryName="app", **kw)["signingStatuses"]
        self.assertEqual([s["status"] for s in statuses(imageId={"imageDigest": digest})], ["IN_PROGRESS"])
        # By tag, the same image; the last answer stays.
        self.assertEqual([s["status"] for s in statuses(imageId={"imageTag": "v1"})], ["COMPLETE"])
        self.assertEqual([s["status"] for s in statuses(imageId={"imageDigest": digest})], ["COMPLETE"])
        self.control("POST", "/_emulator/ecr/signing", {
            "repository": "app", "digest": digest,
            "answers": [[{"signingProfileArn": profile, "status": "FAILED", "failureCode": "SigningFailed",
                          "failureReason": "The signing profile is revoked"}]]})
        failed = statuses(imageId={"imageDigest": digest})[0]
        self.assertEqual((failed["status"], failed["failureCode"], failed["failureReason"]),
                         ("FAILED", "SigningFailed", "The signing profile is revoked"))
        with self.assertRaises(ClientError) as ctx:
            statuses(imageId={"imageDigest": "sha256:" + "5" * 64})
        self.assertEqual(self.error(ctx)[:2], (400, "ImageNotFoundException"))
        with self.assertRaises(ClientError) as ctx:
            self.ecr.describe_image_signing_status(repositoryName="nope", imageId={"imageDigest": digest})
        self.assertEqual(self.error(ctx)[:2], (400, "RepositoryNotFoundException"))

    # -- E9 -------------------------------------------------------------------

    def test_E9_describe_images_pages_and_tag_status(self) -> None:
        self.ecr.create_repository(repositoryName="app")
        tagged = [self.put("app", image_manifest(f"t{i}"), f"v{i}") for i in range(5)]
        untagged = [self.put("app", image_manifest(f"u{i}")) for i in range(3)]
        seen, token, pages = [], None, 0
        while True:
            kw = {"nextToken": token} if token else {}
            page = self.ecr.describe_images(repositoryName="app", maxResults=3, **kw)
            self.assertLessEqual(len(page["imageDetails"]), 3)
            seen += [d["imageDigest"] for d in page["imageDetails"]]
            pages += 1
            token = page.get("nextToken")
            if not token:
                break
        self.assertEqual((pages, sorted(seen)), (3, sorted(tagged + untagged)))
        only = self.ecr.describe_images(repositoryName="app", filter={"tagStatus": "UNTAGGED"})
        self.assertEqual(sorted(d["imageDigest"] for d in only["imageDetails"]), sorted(untagged))
        only = self.ecr.describe_images(repositoryName="app", filter={"tagStatus": "TAGGED"}, maxResults=10)
        self.assertEqual(sorted(d["imageDigest"] for d in only["imageDetails"]), sorted(tagged))
        self.assertNotIn("nextToken", only)
        everything = self.ecr.describe_images(repositoryName="app", filter={"tagStatus": "ANY"})
        self.assertEqual(len(everything["imageDetails"]), 8)

    def test_E9_describe_images_default_page_is_100(self) -> None:
        self.ecr.create_repository(repositoryName="app")
        for i in range(101):
            self.put("app", image_manifest(f"n{i}"))
        first = self.ecr.describe_images(repositoryName="app")
        self.assertEqual(len(first["imageDetails"]), 100)
        rest = self.ecr.describe_images(repositoryName="app", nextToken=first["nextToken"])
        self.assertEqual(len(rest["imageDetails"]), 1)

    def test_E9_list_images_pages(self) -> None:
        self.ecr.create_repository(repositoryName="app")
        digests = [self.put("app", image_manifest(f"l{i}"), f"v{i}") for i in range(5)]
        untagged = self.put("app", image_manifest("loose"))
        seen, token = [], None
        while True:
            kw = {"nextToken": token} if token else {}
            page = self.ecr.list_images(repositoryName="app", maxResults=2, **kw)
            self.assertLessEqual(len(page["imageIds"]), 2)
            seen += page["imageIds"]
            token = page.get("nextToken")
            if not token:
                break
        self.assertEqual(sorted(i["imageDigest"] for i in seen), sorted(digests + [untagged]))
        self.assertIn({"imageDigest": untagged}, seen)

    # -- E10 ------------------------------------------------------------------

    def test_E10_missing_repository_and_bad_json(self) -> None:
        manifest = image_manifest("x")
        with self.assertRaises(ClientError) as ctx:
            self.put("nope", manifest, "v1", imageDigest=sha(manifest))
        self.assertEqual(self.error(ctx)[:2], (400, "RepositoryNotFoundException"))
        with self.assertRaises(ClientError) as ctx:
            self.ecr.batch_get_image(repositoryName="nope", imageIds=[{"imageTag": "v1"}])
        self.assertEqual(self.error(ctx)[:2], (400, "RepositoryNotFoundException"))
        self.ecr.create_repository(repositoryName="app")
        with self.assertRaises(ClientError) as ctx:
            self.put("app", "{not json", "v1", imageManifestMediaType=OCI_MANIFEST)
        self.assertEqual(self.error(ctx)[:2], (400, "InvalidParameterException"))

    # -- E11 ------------------------------------------------------------------

    def upload(self, repo: str, data: bytes, digest: str | None = None) -> str:
        upload_id = self.ecr.initiate_layer_upload(repositoryName=repo)["uploadId"]
        half = len(data) // 2
        self.ecr.upload_layer_part(repositoryName=repo, uploadId=upload_id, partFirstByte=0,
                                   partLastByte=half - 1, layerPartBlob=data[:half])
        self.ecr.upload_layer_part(repositoryName=repo, uploadId=upload_id, partFirstByte=half,
                                   partLastByte=len(data) - 1, layerPartBlob=data[half:])
        return self.ecr.complete_layer_upload(repositoryName=repo, uploadId=upload_id,
                                              layerDigests=[digest or sha(data)])["layerDigest"]

    def upload_once(self, repo: str, data: bytes) -> None:
        try:
            self.upload(repo, data)
        except ClientError as e:
            if e.response["Error"]["Code"] != "LayerAlreadyExistsException":
                raise

    def test_E19_put_image_refuses_missing_blobs_by_default(self) -> None:
        self.ecr.create_repository(repositoryName="strict")
        config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
        layer = b"a layer's bytes"
        manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                               "config": {"mediaType": OCI_CONFIG, "digest": sha(config), "size": len(config)},
                               "layers": [{"mediaType": "application/vnd.in-toto+json",
                                           "digest": sha(layer), "size": len(layer)}]})
        self.upload("strict", config)
        with self.assertRaises(ClientError) as ctx:
            self.put("strict", manifest, "v1", imageDigest=sha(manifest))
        self.assertEqual(self.error(ctx)[:2], (400, "LayersNotFoundException"))
        self.assertIn(sha(layer), self.error(ctx)[2])
        self.assertNotIn(sha(config), self.error(ctx)[2])
        self.assertEqual(self.ecr.list_images(repositoryName="strict")["imageIds"], [])
        # A blob of another repository does not count: blobs are per repository.
        self.ecr.create_repository(repositoryName="other")
        self.upload("other", layer)
        with self.assertRaises(ClientError) as ctx:
            self.put("strict", manifest, "v1", imageDigest=sha(manifest))
        self.assertEqual(self.error(ctx)[:2], (400, "LayersNotFoundException"))
        self.upload("strict", layer)
        self.put("strict", manifest, "v1", imageDigest=sha(manifest))

    def test_E19_foreign_layers_are_not_required(self) -> None:
        self.ecr.create_repository(repositoryName="win")
        config = json.dumps({"architecture": "amd64", "os": "windows"}).encode()
        base = "sha256:" + "b" * 64
        manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                               "config": {"mediaType": OCI_CONFIG, "digest": sha(config), "size": len(config)},
                               "layers": [{"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                                           "digest": base, "size": 1_400_000_000,
                                           "urls": ["https://mcr.microsoft.com/v2/windows/servercore/blobs/" + base]}]})
        self.upload("win", config)
        self.put("win", manifest, "v1", imageDigest=sha(manifest))

    def test_E19_index_refuses_missing_children_by_default(self) -> None:
        self.ecr.create_repository(repositoryName="team/app")
        child = image_manifest("child")
        index = index_manifest([sha(child)])
        with self.assertRaises(ClientError) as ctx:
            self.put("team/app", index, "v1", imageDigest=sha(index))
        self.assertEqual(self.error(ctx)[:2], (400, "ReferencedImagesNotFoundException"))
        self.assertIn(sha(child), self.error(ctx)[2])
        self.assertEqual(self.ecr.list_images(repositoryName="team/app")["imageIds"], [])
        self.put("team/app", child, None, imageDigest=sha(child))
        self.put("team/app", index, "v1", imageDigest=sha(index))

    def test_E19_a_repository_opted_out_stores_what_ecr_refuses(self) -> None:
        self.ecr.create_repository(repositoryName="team/loose")
        self.ecr.create_repository(repositoryName="strict")
        manifest = image_manifest("never uploaded")
        index = index_manifest(["sha256:" + "c" * 64])
        # The name holds a "/": the control path takes every segment up to the verb.
        self.control("POST", "/_emulator/ecr/repositories/team/loose/allow-missing")
        self.put("team/loose", manifest, "v1", blobs=False, imageDigest=sha(manifest))
        self.put("team/loose", index, "v2", imageDigest=sha(index))
        # Only that repository.
        with self.assertRaises(ClientError) as ctx:
            self.put("strict", manifest, "v1", blobs=False, imageDigest=sha(manifest))
        self.assertEqual(self.error(ctx)[:2], (400, "LayersNotFoundException"))
        # require-blobs turns the check back on; a reset forgets the opt-out.
        self.control("POST", "/_emulator/ecr/repositories/team/loose/require-blobs")
        with self.assertRaises(ClientError) as ctx:
            self.put("team/loose", index_manifest(["sha256:" + "d" * 64]), "v3")
        self.assertEqual(self.error(ctx)[:2], (400, "ReferencedImagesNotFoundException"))
        self.control("POST", "/_emulator/ecr/repositories/team/loose/allow-missing")
        self.control("POST", "/_emulator/reset")
        self.ecr.create_repository(repositoryName="team/loose")
        with self.assertRaises(ClientError) as ctx:
            self.put("team/loose", manifest, "v1", blobs=False, imageDigest=sha(manifest))
        self.assertEqual(self.error(ctx)[:2], (400, "LayersNotFoundException"))

    def test_E11_layer_blobs(self) -> None:
        self.ecr.create_repository(repositoryName="team/app")
        config = json.dumps({"architecture": "arm64", "os": "linux"}).encode()
        self.assertEqual(self.upload("team/app", config), sha(config))
        avail = self.ecr.batch_check_layer_availability(repositoryName="team/app", layerDigests=[sha(config)])
        self.assertEqual(avail["layers"][0]["layerAvailability"], "AVAILABLE")
        self.assertEqual(avail["layers"][0]["layerSize"], len(config))
        # Uploaded but in no image yet: inaccessible.
        with self.assertRaises(ClientError) as ctx:
            self.ecr.get_download_url_for_layer(repositoryName="team/app", layerDigest=sha(config))
        self.assertEqual(self.error(ctx)[:2], (400, "LayerInaccessibleException"))
        manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                               "config": {"mediaType": OCI_CONFIG, "digest": sha(config), "size": len(config)},
                               "layers": []})
        self.put("team/app", manifest, "v1", imageDigest=sha(manifest))
        got = self.ecr.get_download_url_for_layer(repositoryName="team/app", layerDigest=sha(config))
        self.assertEqual(got["layerDigest"], sha(config))
        url = got["downloadUrl"]
        self.assertTrue(url.startswith(f"http://127.0.0.1:{self.port}/_emulator/blobs/"))
        self.assertGreaterEqual(len(url.rsplit("/", 1)[1]), 32)
        with urllib.request.urlopen(url, timeout=10) as resp:
            self.assertEqual(resp.read(), config)
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=10) as resp:
            self.assertEqual(int(resp.headers["Content-Length"]), len(config))
        with self.assertRaises(urllib.error.HTTPError) as hctx:
            urllib.request.urlopen(url.rsplit("/", 1)[0] + "/guessed", timeout=10)
        self.assertEqual(hctx.exception.code, 403)
        with self.assertRaises(ClientError) as ctx:
            self.ecr.get_download_url_for_layer(repositoryName="team/app", layerDigest="sha256:" + "5" * 64)
        self.assertEqual(self.error(ctx)[:2], (400, "LayersNotFoundException"))
        # A wrong digest named at completion is refused.
        with self.assertRaises(ClientError) as ctx:
            self.upload("team/app", b"some other bytes", digest="sha256:" + "6" * 64)
        self.assertEqual(self.error(ctx)[:2], (400, "InvalidLayerException"))
        with self.assertRaises(ClientError) as ctx:
            self.upload("team/app", config)
        self.assertEqual(self.error(ctx)[:2], (400, "LayerAlreadyExistsException"))

    def test_control_blob_faults(self) -> None:
        self.ecr.create_repository(repositoryName="app")
        config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
        self.upload("app", config)
        manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                               "config": {"mediaType": OCI_CONFIG, "digest": sha(config), "size": len(config)},
                               "layers": []})
        self.put("app", manifest, "v1", imageDigest=sha(manifest))
        url = self.ecr.get_download_url_for_layer(repositoryName="app", layerDigest=sha(config))["downloadUrl"]
        # Faults for another blob leave this one alone.
        self.control("POST", "/_emulator/blobs/faults",
                     {"fail_next": 1, "status": 500, "digest": "sha256:" + "7" * 64})
        with urllib.request.urlopen(url, timeout=10) as resp:
            self.assertEqual(resp.read(), config)
        self.control("POST", "/_emulator/blobs/faults",
                     {"fail_next": 2, "status": 503, "digest": sha(config)})
        for _ in range(2):
            with self.assertRaises(urllib.error.HTTPError) as hctx:
                urllib.request.urlopen(url, timeout=10)
            self.assertEqual(hctx.exception.code, 503)
        with urllib.request.urlopen(url, timeout=10) as resp:
            self.assertEqual(resp.read(), config)
        self.assertEqual(self.control("GET", "/_emulator/blobs/reads"), {"gets": 4, "faults_left": 1})

    # -- C1 -------------------------------------------------------------------

    def cloudwatch(self, protocol: str):
        """A CloudWatch client speaking `protocol`: boto3's default (JSON 1.0)
        or Smithy RPC v2 CBOR, what aws-sdk-cloudwatch speaks."""
        import botocore.model
        kept = botocore.model.PRIORITY_ORDERED_SUPPORTED_PROTOCOLS
        if protocol == "smithy-rpc-v2-cbor":
            botocore.model.PRIORITY_ORDERED_SUPPORTED_PROTOCOLS = (protocol,) + tuple(kept)
        try:
            client = boto3.client("cloudwatch", endpoint_url=self.url, region_name=REGION,
                                  aws_access_key_id="testing", aws_secret_access_key="testing",
                                  config=Config(retries={"max_attempts": 1}))
        finally:
            botocore.model.PRIORITY_ORDERED_SUPPORTED_PROTOCOLS = kept
        self.assertEqual(client.meta.service_model.resolved_protocol, protocol)
        return client

    def test_C1_describe_alarms_after_set_alarm_state(self) -> None:
        for protocol in ("json", "smithy-rpc-v2-cbor"):
            with self.subTest(protocol=protocol):
                self.control("POST", "/_emulator/reset")
                cw = self.cloudwatch(protocol)
                cw.put_metric_alarm(AlarmName="fn-errors", MetricName="Errors", Namespace="AWS/Lambda",
                                    Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1.0,
                                    ComparisonOperator="GreaterThanOrEqualToThreshold",
                                    Dimensions=[{"Name": "FunctionName", "Value": "fn"}])
                got = cw.describe_alarms(AlarmNames=["fn-errors"])["MetricAlarms"]
                self.assertEqual([a["StateValue"] for a in got], ["INSUFFICIENT_DATA"])
                self.assertEqual(got[0]["Threshold"], 1.0)
                cw.set_alarm_state(AlarmName="fn-errors", StateValue="ALARM", StateReason="errors seen")
                got = cw.describe_alarms(AlarmNames=["fn-errors", "absent"])["MetricAlarms"]
                self.assertEqual([(a["AlarmName"], a["StateValue"], a["StateReason"]) for a in got],
                                 [("fn-errors", "ALARM", "errors seen")])
                self.assertIsNotNone(got[0]["StateUpdatedTimestamp"].tzinfo)
                cw.set_alarm_state(AlarmName="fn-errors", StateValue="OK", StateReason="quiet")
                self.assertEqual(cw.describe_alarms(AlarmNames=["fn-errors"])["MetricAlarms"][0]["StateValue"], "OK")
                with self.assertRaises(ClientError) as ctx:
                    cw.set_alarm_state(AlarmName="absent", StateValue="ALARM", StateReason="x")
                self.assertEqual(self.error(ctx)[1], "ResourceNotFound")
                cw.describe_alarms()
                self.assertEqual(self.control("GET", "/_emulator/cloudwatch/alarms/fn-errors/reads"),
                                 {"describe_alarms": 3})
                self.assertEqual(self.control("GET", "/_emulator/cloudwatch/reads"),
                                 {"describe_alarms": 4, "by_alarm": {"fn-errors": 3, "absent": 1}})

    def test_C2_composite_alarms_and_alarm_types(self) -> None:
        for protocol in ("json", "smithy-rpc-v2-cbor"):
            with self.subTest(protocol=protocol):
                self.control("POST", "/_emulator/reset")
                cw = self.cloudwatch(protocol)
                cw.put_metric_alarm(AlarmName="5xx", MetricName="Errors", Namespace="AWS/Lambda",
                                    Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1.0,
                                    ComparisonOperator="GreaterThanOrEqualToThreshold")
                cw.put_composite_alarm(AlarmName="any-errors", AlarmRule='ALARM("5xx")')
                both = cw.describe_alarms(AlarmNames=["5xx", "any-errors"],
                                          AlarmTypes=["MetricAlarm", "CompositeAlarm"])
                self.assertEqual([a["AlarmName"] for a in both["MetricAlarms"]], ["5xx"])
                self.assertEqual([(a["AlarmName"], a["StateValue"]) for a in both["CompositeAlarms"]],
                                 [("any-errors", "INSUFFICIENT_DATA")])
                # No AlarmTypes: metric alarms only, as CloudWatch answers.
                plain = cw.describe_alarms(AlarmNames=["5xx", "any-errors"])
                self.assertEqual(plain.get("CompositeAlarms", []), [])
                self.assertEqual(len(plain["MetricAlarms"]), 1)
                cw.set_alarm_state(AlarmName="any-errors", StateValue="ALARM", StateReason="5xx in ALARM")
                got = cw.describe_alarms(AlarmNames=["any-errors"], AlarmTypes=["CompositeAlarm"])
                self.assertEqual([(a["StateValue"], a["StateReason"]) for a in got["CompositeAlarms"]],
                                 [("ALARM", "5xx in ALARM")])
                self.assertEqual(got.get("MetricAlarms", []), [])

    # -- control API ------------------------------------------------------------

    def test_control_reads(self) -> None:
        self.function()
        self.lam.get_function(FunctionName="fn")
        self.lam.get_function(FunctionName=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn")
        self.lam.get_function_configuration(FunctionName="fn")  # + 1 from function()
        self.lam.update_function_code(FunctionName="fn", ImageUri=f"{REGISTRY}/app:v2")
        self.wait_update("fn")  # + 1 get_function_configuration
        self.lam.publish_version(FunctionName="fn")
        self.lam.create_alias(FunctionName="fn", Name="live", FunctionVersion="1")
        self.lam.get_alias(FunctionName="fn", Name="live")
        self.lam.update_alias(FunctionName="fn", Name="live", Description="x")
        self.lam.invoke(FunctionName="fn", Qualifier="1")
        zero = {"get_function": 0, "get_function_configuration": 0, "update_function_code": 0,
                "publish_version": 0, "get_alias": 0, "update_alias": 0, "invoke": 0}
        self.assertEqual(self.control("GET", "/_emulator/lambda/functions/fn/reads"),
                         {**zero, "get_function": 2, "get_function_configuration": 3,
                          "update_function_code": 1, "publish_version": 1, "get_alias": 1,
                          "update_alias": 1, "invoke": 1})
        self.assertEqual(self.control("GET", "/_emulator/lambda/functions/other/reads"), zero)

    def test_control_reset(self) -> None:
        self.function()
        self.control("POST", "/_emulator/lambda/defaults", {"update_seconds": 5})
        self.control("POST", "/_emulator/lambda/functions/fn", {"outcome": "Failed"})
        self.control("POST", "/_emulator/reset")
        self.assertEqual(self.ecr.describe_repositories()["repositories"], [])
        self.assertEqual(self.lam.list_functions()["Functions"], [])
        self.assertEqual(self.control("GET", "/_emulator/lambda/functions/fn/reads")["get_function"], 0)
        self.function()  # the role exists again
        self.lam.update_function_code(FunctionName="fn", ImageUri=f"{REGISTRY}/app:v2")
        self.assertEqual(self.wait_update("fn")["LastUpdateStatus"], "Successful")

    def test_control_rejects_bad_settings(self) -> None:
        for body in ({"outcome": "Maybe"}, {"update_seconds": "soon"}, {"colour": "red"}):
            with self.assertRaises(urllib.error.HTTPError) as ctx:
                self.control("POST", "/_emulator/lambda/defaults", body)
            self.assertEqual(ctx.exception.code, 400)


if __name__ == "__main__":
    started = time.monotonic()
    result = unittest.main(exit=False, verbosity=2).result
    print(f"selftest: {time.monotonic() - started:.1f} s", file=sys.stderr)
    sys.exit(0 if result.wasSuccessful() else 1)
