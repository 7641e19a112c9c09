"""A moto 5.2.5 server patched to behave as real Lambda and ECR do where
ecr-lambda's tests depend on it.

Usage: python3 server.py [PORT]   (0 or nothing: any free port)

Binds 127.0.0.1, creates the IAM role `ecr-lambda-test-role` (moto's Lambda
refuses unknown roles), prints the port on one line, then serves until its
standard input closes (the test process that started it exited).

Every patch below names the row of FIDELITY.md (next to this file) that it
implements, e.g. "[L1]" or "[E7]". The control API (`/_emulator/...`) that
lets tests drive Lambda's timing is documented there too.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import logging
import os
import random
import re
import secrets
import sys
import threading
import time
import uuid
from typing import Any
from urllib.parse import unquote

# Lambda resolves image URIs in moto's own ECR, as the real service does in ECR.
os.environ["MOTO_LAMBDA_STUB_ECR"] = "false"

from moto.awslambda import models as lambda_models  # noqa: E402
from moto.awslambda.exceptions import (  # noqa: E402
    InvalidParameterValueException,
    LambdaClientError,
)
from moto.core import DEFAULT_ACCOUNT_ID  # noqa: E402
from moto.core.exceptions import ServiceException  # noqa: E402
from moto.core.responses import ActionResult, EmptyResult  # noqa: E402
from moto.core.utils import iso_8601_datetime_with_nanoseconds  # noqa: E402
from moto.ecr import models as ecr_models  # noqa: E402
from moto.ecr import responses as ecr_responses  # noqa: E402
from moto.ecr.exceptions import (  # noqa: E402
    ImageAlreadyExistsException,
    InvalidParameterException,
    RepositoryNotFoundException,
    ValidationException,
)
from moto.iam.models import iam_backends  # noqa: E402
from moto.moto_api._internal.models import moto_api_backend  # noqa: E402
from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server  # noqa: E402

import cbor_bridge  # noqa: E402  (next to this file)
from moto.cloudwatch import responses as cloudwatch_responses  # noqa: E402

ROLE = "ecr-lambda-test-role"
LambdaFunction = lambda_models.LambdaFunction
LambdaBackend = lambda_models.LambdaBackend
LambdaStorage = lambda_models.LambdaStorage
ECRBackend = ecr_models.ECRBackend
ECRResponse = ecr_responses.ECRResponse

# moto serves requests on several threads; every patched operation that reads
# and then changes state holds this lock.
LOCK = threading.RLock()
# Set once the server is bound; blob download URLs name it.
PORT = 0


# ---------------------------------------------------------------------------
# Launcher state, driven by the control API (FIDELITY.md, "Control API")
# ---------------------------------------------------------------------------

SETTING_KEYS = {
    "update_seconds",
    "pending_seconds",
    "outcome",
    "reason_code",
    "reason",
    "image_while_updating",
    "provision_seconds",
}


def initial_defaults() -> dict[str, Any]:
    return {
        "update_seconds": float(os.environ.get("EMULATOR_UPDATE_SECONDS", "1.0")),
        "pending_seconds": float(os.environ.get("EMULATOR_PENDING_SECONDS", "0")),
        "outcome": "Successful",
        # Used when a test asks for a Failed outcome without naming a reason.
        "reason_code": "InternalError",
        "reason": "The emulator was told to fail this update.",
        # [L1] What GetFunction's Code shows while an update is InProgress: the new
        # image ("new") or the one before the update ("old"). Undocumented, so both.
        "image_while_updating": "new",
        # [L14] How long a version of a function on Lambda Managed Instances waits
        # for its instances before it runs (real Lambda: minutes).
        "provision_seconds": float(os.environ.get("EMULATOR_PROVISION_SECONDS", "0")),
    }


READ_KEYS = (
    "get_function",
    "get_function_configuration",
    "update_function_code",
    "publish_version",
    "get_alias",
    "update_alias",
    "invoke",
)


class State:
    def __init__(self) -> None:
        self.defaults = initial_defaults()
        # [E19] PutImage refuses a manifest whose blobs or child manifests the
        # repository does not hold, as ECR does: in every repository unless
        # EMULATOR_REQUIRE_BLOBS=0, and never in those named here (a test that needs
        # a registry holding what ECR would refuse opts its own repository out).
        self.require_blobs_everywhere = os.environ.get("EMULATOR_REQUIRE_BLOBS", "1") != "0"
        self.allow_missing: set[str] = set()
        self.per_function: dict[str, dict[str, Any]] = {}
        self.reads: dict[str, dict[str, int]] = {}
        # function name -> every update begun, in order, with wall-clock times
        # (GET /_emulator/lambda/functions/{name}/updates)
        self.updates: dict[str, list[dict[str, Any]]] = {}
        # token -> (account, region, repository name, digest) for blob URLs [E11]
        self.blob_tokens: dict[str, tuple[str, str, str, str]] = {}
        # (function name, alias name) -> every write to it, in order [L8]
        self.alias_history: dict[tuple[str, str], list[dict[str, Any]]] = {}
        # function name -> version ("N", "$LATEST" or "*") -> Invoke answer [L9]
        self.invoke_answers: dict[str, dict[str, dict[str, Any]]] = {}
        # function name -> every Invoke, in order [L9]
        self.invocations: dict[str, list[dict[str, Any]]] = {}
        # alarm name -> DescribeAlarms requests naming it; "*" counts all [C1]
        self.alarm_reads: dict[str, int] = {}
        # (repository name, digest) -> DescribeImageSigningStatus answers still to
        # give, oldest first; the last one stays [E12]
        self.signing: dict[tuple[str, str], list[list[dict[str, Any]]]] = {}
        # [E11] digest ("*": any) -> the statuses its next GETs fail with; all GETs
        self.blob_faults: dict[str, list[int]] = {}
        self.blob_gets = 0

    def settings(self, function_name: str) -> dict[str, Any]:
        merged = dict(self.defaults)
        merged.update(self.per_function.get(function_name, {}))
        return merged

    def count(self, function_name: str, call: str) -> None:
        counts = self.reads.setdefault(function_name, {key: 0 for key in READ_KEYS})
        counts[call] += 1


STATE = State()


# ---------------------------------------------------------------------------
# Lambda: function timeline [L1] [L2] [L3] [L4] [L10]
# ---------------------------------------------------------------------------
#
# Each LambdaFunction object ($LATEST or a published version) carries `_emu`,
# a dict of monotonic deadlines; what GetFunction & co. report is computed
# from it at read time:
#   pending_until    State is Pending before this instant            [L2] [L10]
#   pending_outcome  (status, reason_code, reason) once Pending ends [L10]
#   update_until     LastUpdateStatus is InProgress before this      [L1]
#   outcome          (status, reason_code, reason) once it has ended [L1]
#   rev_during       the RevisionId while Pending / InProgress        [L4]
#   rev_after        the RevisionId once that has ended               [L4]

PENDING_REASON = "The function is being created."
PENDING_REASON_CODE = "Creating"
# [L1] What real Lambda sends while an update is InProgress (sic: "created",
# "Creating"), in UpdateFunctionCode's answer and in reads (LocalStack's
# snapshots recorded against AWS; hashicorp/terraform-provider-aws#43395).
UPDATING_REASON = "The function is being created."
UPDATING_REASON_CODE = "Creating"
SUCCESSFUL = ("Successful", None, None)


def new_timeline(pending_seconds: float = 0.0) -> dict[str, Any]:
    return {
        "pending_until": time.monotonic() + max(pending_seconds, 0.0),
        "pending_outcome": SUCCESSFUL,
        "update_until": 0.0,
        "outcome": SUCCESSFUL,
        "rev_during": str(uuid.uuid4()),
        "rev_after": str(uuid.uuid4()),
    }


def timeline(fn: LambdaFunction) -> dict[str, Any]:
    emu = getattr(fn, "_emu", None)
    if emu is None:  # a function made some other way (CloudFormation, ...)
        emu = new_timeline()
        fn._emu = emu
    return emu


def start_update(fn: LambdaFunction, settings: dict[str, Any]) -> None:
    """[L1] [L4] An update begins now: InProgress for update_seconds, then the
    configured outcome; a new RevisionId at once and another when it ends."""
    emu = timeline(fn)
    seconds = max(float(settings["update_seconds"]), 0.0)
    wall = time.time()
    emu["update_until"] = time.monotonic() + seconds
    if settings["outcome"] == "Failed":
        emu["outcome"] = ("Failed", settings["reason_code"], settings["reason"])
    else:
        emu["outcome"] = SUCCESSFUL
    emu["rev_during"] = str(uuid.uuid4())
    emu["rev_after"] = str(uuid.uuid4())
    with LOCK:
        STATE.updates.setdefault(fn.function_name, []).append(
            {
                "version": fn.version,
                "started": wall,
                "ended": wall + seconds,
                "update_seconds": seconds,
                "outcome": emu["outcome"][0],
            }
        )


def new_revision(fn: LambdaFunction) -> None:
    """[L4] A settled function or version gets a new RevisionId."""
    emu = timeline(fn)
    emu["rev_during"] = emu["rev_after"] = str(uuid.uuid4())


def is_pending(fn: LambdaFunction) -> bool:
    return time.monotonic() < timeline(fn)["pending_until"]


def is_updating(fn: LambdaFunction) -> bool:
    return time.monotonic() < timeline(fn)["update_until"]


def current_revision(fn: LambdaFunction) -> str:
    """[L4] The RevisionId changes again when Pending or InProgress ends."""
    emu = timeline(fn)
    if is_pending(fn) or is_updating(fn):
        return emu["rev_during"]
    return emu["rev_after"]


STATUS_KEYS = (
    "State",
    "StateReason",
    "StateReasonCode",
    "LastUpdateStatus",
    "LastUpdateStatusReason",
    "LastUpdateStatusReasonCode",
)


def overlay_status(
    config: dict[str, Any], fn: LambdaFunction, at_start: str | None = None, listing: bool = False
) -> None:
    """Status fields as a read sees them now. at_start="pending" or "updating"
    gives the answer of the call that began that phase, whatever the clock
    says (the call's own answer always shows it begun). listing: the fields of
    ListFunctions / ListVersionsByFunction entries, which carry none [L7]."""
    # [L8] DeadLetterConfig, which moto drops: every read shows the target kept.
    dlq = getattr(fn, "_emu_dlq", None)
    if dlq:
        config["DeadLetterConfig"] = {"TargetArn": dlq}
    for key in STATUS_KEYS:
        config.pop(key, None)
    emu = timeline(fn)
    if at_start:
        config["RevisionId"] = emu["rev_during"]
    else:
        config["RevisionId"] = current_revision(fn)
    if listing:
        return
    if at_start == "pending" or (at_start is None and is_pending(fn)):
        # [L2] [L10] Lambda API Reference, FunctionConfiguration: LastUpdateStatus
        # "is first set to Successful after function creation completes".
        config["State"] = "Pending"
        config["StateReason"] = PENDING_REASON
        config["StateReasonCode"] = PENDING_REASON_CODE
        return
    if at_start is None and time.monotonic() >= emu["pending_until"] and emu["pending_outcome"][0] == "Failed":
        # [L10] A version cut by UpdateFunctionCode(Publish=true) whose update
        # failed (uncertain: FIDELITY.md).
        _, code, reason = emu["pending_outcome"]
        config["State"] = "Failed"
        config["StateReasonCode"] = code
        config["StateReason"] = reason
        config["LastUpdateStatus"] = "Failed"
        config["LastUpdateStatusReasonCode"] = code
        config["LastUpdateStatusReason"] = reason
        return
    config["State"] = "Active"
    if at_start == "updating" or (at_start is None and is_updating(fn)):
        config["LastUpdateStatus"] = "InProgress"
        config["LastUpdateStatusReason"] = UPDATING_REASON
        config["LastUpdateStatusReasonCode"] = UPDATING_REASON_CODE
        return
    status, code, reason = emu["outcome"]
    config["LastUpdateStatus"] = status
    if status == "Failed":
        config["LastUpdateStatusReasonCode"] = code
        config["LastUpdateStatusReason"] = reason


_orig_get_configuration = LambdaFunction.get_configuration


def get_configuration(self: LambdaFunction, on_create: bool = False) -> dict[str, Any]:
    """[L1] [L2] [L4] Every read (GetFunction, GetFunctionConfiguration, the
    write responses) reports the current State / LastUpdateStatus / RevisionId."""
    config = _orig_get_configuration(self, on_create)
    # CreateFunction's own answer says Pending, as real Lambda's does.
    overlay_status(config, self, at_start="pending" if on_create else None)
    return config


LambdaFunction.get_configuration = get_configuration


def listed_configuration(fn: LambdaFunction) -> dict[str, Any]:
    """[L7] An entry of ListFunctions / ListVersionsByFunction: no State nor
    LastUpdateStatus fields (Lambda API Reference, ListFunctions: "use
    GetFunction" for them); RevisionId stays."""
    config = _orig_get_configuration(fn, False)
    overlay_status(config, fn, listing=True)
    return config


class LambdaError(LambdaClientError):
    """Lambda's REST-JSON error: header X-Amzn-ErrorType plus the body real
    Lambda sends for that error (recorded in LocalStack's snapshots)."""

    def __init__(self, status: int, error_type: str, body: dict[str, Any]):
        message = body.get("message") or body.get("Message") or ""
        super().__init__(error_type, message)
        self.code = status
        self.description = json.dumps(body)


class ResourceConflict(LambdaError):
    """[L3] 409, body {"Type": "User", "message": ...}."""

    def __init__(self, message: str):
        super().__init__(409, "ResourceConflictException", {"Type": "User", "message": message})


class PreconditionFailed(LambdaError):
    """[L4] [L8]"""

    def __init__(self) -> None:
        message = (
            "The Revision Id provided does not match the latest Revision Id. "
            "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
        )
        super().__init__(412, "PreconditionFailedException", {"Type": "User", "message": message})


class InvalidParameterValue(LambdaError):
    def __init__(self, message: str, typed: bool = True):
        body = {"Type": "User", "message": message} if typed else {"message": message}
        super().__init__(400, "InvalidParameterValueException", body)


class ValidationError(LambdaError):
    def __init__(self, message: str):
        super().__init__(400, "ValidationException", {"message": message})


class ResourceNotFound(LambdaError):
    """404, body {"Type": "User", "Message": ...} (capital M, as recorded)."""

    def __init__(self, message: str):
        super().__init__(404, "ResourceNotFoundException", {"Type": "User", "Message": message})


def refuse_if_busy(fn: LambdaFunction) -> None:
    """[L3] UpdateFunctionCode, UpdateFunctionConfiguration and PublishVersion
    fail while the function is Pending or an update is InProgress."""
    arn = fn.function_arn
    if is_pending(fn):
        raise ResourceConflict(
            "The operation cannot be performed at this time. The resource "
            f"{arn} is currently in the following state: 'Pending'. "
            f"StateReasonCode: '{PENDING_REASON_CODE}'"
        )
    if is_updating(fn):
        raise ResourceConflict(
            "The operation cannot be performed at this time. "
            f"An update is in progress for resource: {arn}"
        )


def check_revision(fn: LambdaFunction, body: dict[str, Any]) -> None:
    """[L4] A RevisionId that is not the current one is refused."""
    wanted = body.get("RevisionId")
    if wanted and wanted != current_revision(fn):
        raise PreconditionFailed()


_orig_create_function = LambdaBackend.create_function


def create_function(self: LambdaBackend, spec: dict[str, Any]) -> LambdaFunction:
    """[L2] A new function is Pending for pending_seconds, then Active."""
    with LOCK:
        name = spec.get("FunctionName", "")
        settings = STATE.settings(name)
        # The timeline must exist before moto publishes a version (Publish=true)
        # so the version copies it; set it on the object as soon as it exists.
        _pending_create[threading.get_ident()] = float(settings["pending_seconds"])
        try:
            fn = _orig_create_function(self, spec)
        finally:
            _pending_create.pop(threading.get_ident(), None)
        return fn


_pending_create: dict[int, float] = {}
_orig_put_function = LambdaStorage.put_function


def put_function(self: LambdaStorage, fn: LambdaFunction) -> None:
    _orig_put_function(self, fn)
    pending = _pending_create.get(threading.get_ident())
    if pending is not None:
        fn._emu = new_timeline(pending)


LambdaBackend.create_function = create_function
LambdaStorage.put_function = put_function


def update_function_code(
    self: LambdaBackend, function_name: str, qualifier: str, body: dict[str, Any]
) -> dict[str, Any]:
    """[L1] [L3] [L4] [L5] [L6] [L10] replaces moto's (which also runs the
    update twice and never checks state nor RevisionId)."""
    with LOCK:
        fn = self.get_function(function_name, qualifier)
        refuse_if_busy(fn)
        check_revision(fn, body)
        # Validates the image (and with DryRun stops there).
        fn._set_function_code(body)
        if body.get("DryRun"):
            return fn.get_configuration()
        if "Architectures" in body and body["Architectures"]:
            fn.architectures = body["Architectures"]  # moto ignores them
        fn.last_modified = iso_8601_datetime_with_nanoseconds()
        start_update(fn, STATE.settings(fn.function_name))
        if body.get("Publish"):
            # [L10] The answer is the new version's: Pending until the update
            # ends (then the update's outcome), no LastUpdateStatus.
            versions = self._lambdas._functions[fn.function_name]["versions"]
            before = len(versions)
            version = self._lambdas.publish_version(fn.function_name)
            if version is not None and len(versions) > before:
                emu = timeline(version)
                emu["pending_until"] = timeline(fn)["update_until"]
                emu["pending_outcome"] = timeline(fn)["outcome"]
                emu["update_until"] = 0.0
                emu["outcome"] = SUCCESSFUL
                emu["rev_during"] = str(uuid.uuid4())
                emu["rev_after"] = str(uuid.uuid4())
                config = _orig_get_configuration(version, False)
                overlay_status(config, version, at_start="pending")
                return config
            if version is not None:
                # Nothing new to publish (same code and configuration as the
                # last version): that version comes back. [L10]
                return version.get_configuration()
        config = _orig_get_configuration(fn, False)
        # The answer itself always says the update has begun, as real Lambda's does.
        overlay_status(config, fn, at_start="updating")
        return config


def update_function_configuration(
    self: LambdaBackend, function_name: str, qualifier: str, body: dict[str, Any]
) -> dict[str, Any]:
    """[L1] [L3] [L4] UpdateFunctionConfiguration is an update too."""
    with LOCK:
        fn = self.get_function(function_name, qualifier)
        refuse_if_busy(fn)
        check_revision(fn, body)
        fn.update_configuration(body)
        fn.last_modified = iso_8601_datetime_with_nanoseconds()
        start_update(fn, STATE.settings(fn.function_name))
        config = _orig_get_configuration(fn, False)
        overlay_status(config, fn, at_start="updating")
        return config


LambdaBackend.update_function_code = update_function_code
LambdaBackend.update_function_configuration = update_function_configuration


# [L10] What makes two versions "the same" for PublishVersion: the code and the
# configuration (Lambda API Reference, PublishVersion: "Lambda doesn't publish a
# version if the function's configuration and code haven't changed since the
# last version"). Identity, timestamps, status and the version's own
# description are not part of it.
UNCOMPARED_KEYS = {
    "FunctionArn",
    "FunctionName",
    "Version",
    "RevisionId",
    "LastModified",
    "Description",
    "MasterArn",
    *STATUS_KEYS,
}


def fingerprint(fn: LambdaFunction) -> str:
    config = _orig_get_configuration(fn, False)
    kept = {k: v for k, v in config.items() if k not in UNCOMPARED_KEYS}
    kept["_code"] = {k: fn.code.get(k) for k in ("ImageUri", "ResolvedImageUri")}
    return json.dumps(kept, sort_keys=True, default=str)


def backend_publish_version(
    self: LambdaBackend,
    function_name: str,
    description: str = "",
    revision_id: str | None = None,
    code_sha256: str | None = None,
) -> LambdaFunction | None:
    """[L3] [L4] [L10] PublishVersion is refused while Pending or InProgress,
    honours RevisionId and CodeSha256; a new version is Active at once."""
    with LOCK:
        latest = self._lambdas.get_function_by_name_or_arn_forbid_qualifier(function_name)
        creating = threading.get_ident() in _pending_create  # CreateFunction(Publish=true)
        if not creating:
            refuse_if_busy(latest)
            check_revision(latest, {"RevisionId": revision_id})
            if code_sha256 and code_sha256 != latest.code_sha_256:
                raise InvalidParameterValue(
                    f"CodeSHA256 ({code_sha256}) is different from current CodeSHA256 in "
                    f"$LATEST ({latest.code_sha_256}). Please try again with the CodeSHA256 in $LATEST."
                )
        versions = self._lambdas._functions[latest.function_name]["versions"]
        before = len(versions)
        version = self._lambdas.publish_version(function_name, description)
        if version is not None and len(versions) > before and not creating:
            emu = timeline(version)
            emu["pending_until"] = 0.0
            emu["pending_outcome"] = SUCCESSFUL
            emu["update_until"] = 0.0
            emu["outcome"] = SUCCESSFUL
            new_revision(version)
            # [L4] Publishing a version changes $LATEST's RevisionId (recorded).
            new_revision(latest)
        return version


LambdaBackend.publish_version = backend_publish_version

from moto.awslambda import responses as lambda_responses  # noqa: E402


def responses_publish_version(self: Any) -> Any:
    # moto's handler drops RevisionId and CodeSha256; pass them on. [L4] [L10]
    function_name = unquote(self.path.split("/")[-2])
    description = self._get_param("Description")
    revision_id = self._get_param("RevisionId")
    code_sha256 = self._get_param("CodeSha256")
    fn = self.backend.publish_version(function_name, description, revision_id, code_sha256)
    config = fn.get_configuration()  # type: ignore[union-attr]
    return 201, {"status": 201}, json.dumps(config)


lambda_responses.LambdaResponse.publish_version = responses_publish_version

_orig_storage_publish = LambdaStorage.publish_version


def storage_publish_version(
    self: LambdaStorage, name_or_arn: str, description: str = ""
) -> LambdaFunction | None:
    """[L6] [L10] A published version keeps its own code (moto's copy.copy
    shares $LATEST's code dict, so a later update rewrote every version's
    ImageUri). It starts with a copy of $LATEST's timeline and its own
    RevisionId. With code and configuration unchanged since the last version,
    that version comes back (moto decides by a flag that any update sets)."""
    latest = self.get_function_by_name_or_arn_forbid_qualifier(name_or_arn)
    versions = self._functions[latest.function_name]["versions"]
    if versions and fingerprint(versions[-1]) == fingerprint(latest):
        return versions[-1]
    latest.code_or_config_updated = True
    before = len(versions)
    fn = _orig_storage_publish(self, name_or_arn, description)
    if fn is not None and len(versions) > before:
        fn.code = copy.deepcopy(fn.code)
        emu = dict(timeline(latest))
        emu["rev_during"] = str(uuid.uuid4())
        emu["rev_after"] = str(uuid.uuid4())
        fn._emu = emu
    return fn


LambdaStorage.publish_version = storage_publish_version


def list_max_items(self: Any) -> int:
    """[L7] MaxItems 1-10000 is accepted; an answer holds at most 50."""
    raw = self.querystring.get("MaxItems", [None])[0]
    if raw is None:
        return 50
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError(
            f"1 validation error detected: Value '{raw}' at 'maxItems' failed to satisfy "
            "constraint: Member must have value greater than or equal to 1"
        )
    if value < 1 or value > 10000:
        bound = (
            "Member must have value greater than or equal to 1"
            if value < 1
            else "Member must have value less than or equal to 10000"
        )
        raise ValidationError(
            f"1 validation error detected: Value '{value}' at 'maxItems' failed to satisfy constraint: {bound}"
        )
    return min(value, 50)


def page_of(self: Any, items: list[Any], kind: str) -> tuple[list[Any], str | None]:
    max_items = list_max_items(self)
    marker = self.querystring.get("Marker", [None])[0]
    start = 0
    if marker:
        try:
            start = decode_token(marker, kind)
        except ServiceException:
            raise InvalidParameterValue("Invalid marker")
    page = items[start : start + max_items]
    token = encode_token(start + max_items, kind) if start + max_items < len(items) else None
    return page, token


def responses_list_functions(self: Any) -> str:
    """[L7] ListFunctions pages: at most 50 functions per answer (MaxItems
    1-10000), NextMarker / Marker; no State / LastUpdateStatus fields; moto
    returns everything at once, with them."""
    func_version = self.querystring.get("FunctionVersion", [None])[0]
    with LOCK:
        configs = [listed_configuration(fn) for fn in self.backend.list_functions(func_version)]
    page, token = page_of(self, configs, "list_functions")
    result: dict[str, Any] = {"Functions": page}
    if token:
        result["NextMarker"] = token
    return json.dumps(result)


lambda_responses.LambdaResponse.list_functions = responses_list_functions


def responses_list_versions_by_function(self: Any) -> str:
    """[L7] ListVersionsByFunction pages as ListFunctions does."""
    function_name = unquote(self.path.split("/")[-2])
    with LOCK:
        # A missing function is ResourceNotFoundException (moto: an empty list).
        latest = self.backend._lambdas.get_function_by_name_or_arn_forbid_qualifier(function_name)
        configs = [listed_configuration(fn) for fn in self.backend.list_versions_by_function(latest.function_name)]
    page, token = page_of(self, configs, "list_versions")
    result: dict[str, Any] = {"Versions": page}
    if token:
        result["NextMarker"] = token
    return json.dumps(result)


lambda_responses.LambdaResponse.list_versions_by_function = responses_list_versions_by_function


# ---------------------------------------------------------------------------
# Lambda: image URIs [L5]
# ---------------------------------------------------------------------------

IMAGE_URI_RE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/(?P<rest>.+)$"
)
REPO_NAME_RE = re.compile(ecr_models.ECR_REPOSITORY_NAME_PATTERN)
DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
INDEX_TYPES = {
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
}
MANIFEST_TYPES = {
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
}
CONFIG_TYPES = {
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
}
LAYER_TYPES = {
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",  # uncertain, see FIDELITY.md
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
}


def not_valid(uri: str) -> InvalidParameterValue:
    return InvalidParameterValue(f"Source image {uri} is not valid. Provide a valid source image.")


def parse_image_uri(uri: str) -> tuple[str, str, str, str | None, str | None]:
    """-> (account, region, repository, tag, digest); nested names allowed;
    a tag or a digest is required. [L5]"""
    m = IMAGE_URI_RE.match(uri)
    if not m:
        raise not_valid(uri)
    rest = m.group("rest")
    tag = digest = None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not DIGEST_RE.match(digest):
            raise not_valid(uri)
    last = rest.rsplit("/", 1)[-1]
    if ":" in last:
        rest, tag = rest.rsplit(":", 1)
    if digest:
        tag = None
    elif not tag:
        # Neither tag nor digest: refused, not read as `latest` (public threads:
        # aws-samples/bedrock-access-gateway#205, hashicorp/terraform#27963).
        raise not_valid(uri)
    if not REPO_NAME_RE.fullmatch(rest):
        raise not_valid(uri)
    return m.group("account"), m.group("region"), rest, tag, digest


def resolve_image(fn: LambdaFunction, uri: str) -> tuple[str, str, int]:
    """-> (ResolvedImageUri, manifest digest, config size). Raises Lambda's
    InvalidParameterValueException as real Lambda does."""
    account, region, repo_name, tag, digest = parse_image_uri(uri)
    if region != fn.region:
        raise not_valid(uri)
    missing = InvalidParameterValue(
        f"Source image {uri} does not exist. Provide a valid source image."
    )
    ecr = ecr_models.ecr_backends[account][region]
    repo = ecr.repositories.get(repo_name)
    if repo is None:
        raise missing
    image = None
    for candidate in repo.images:
        if digest and candidate.get_image_digest() == digest:
            image = candidate
        elif tag and tag in candidate.image_tags:
            image = candidate
        if image:
            break
    if image is None:
        raise missing
    retention.lambda_resolves(image, uri)  # [E15] [E13]
    unsupported = InvalidParameterValue(
        f"The image manifest, config or layer media type for the source image {uri} is not supported."
    )
    try:
        manifest = json.loads(image.image_manifest)
    except ValueError:
        raise unsupported
    media_type = manifest.get("mediaType") or image.image_manifest_media_type
    if media_type in INDEX_TYPES or "manifests" in manifest or media_type not in MANIFEST_TYPES:
        raise unsupported
    config = manifest.get("config") or {}
    if config.get("mediaType") not in CONFIG_TYPES:
        raise unsupported
    for layer in manifest.get("layers") or []:
        if layer.get("mediaType") not in LAYER_TYPES:
            raise unsupported
    found = image.get_image_digest()
    resolved = f"{account}.dkr.ecr.{region}.amazonaws.com/{repo_name}@{found}"
    return resolved, found, int(config.get("size") or 0)


_orig_set_function_code = LambdaFunction._set_function_code


def set_function_code(self: LambdaFunction, updated_spec: dict[str, Any]) -> None:
    """[L5] Resolve ImageUri as Lambda does: nested repository names, digest
    URIs, index / attestation manifests refused, missing images refused."""
    if "ImageUri" not in updated_spec:
        return _orig_set_function_code(self, updated_spec)
    from_update = updated_spec is not self.code
    uri = updated_spec["ImageUri"]
    if from_update and self.package_type != "Image":
        # Wording uncertain (FIDELITY.md, L5); moto accepted the URI.
        raise InvalidParameterValue(
            "Please don't provide ImageUri when updating a function with packageType Zip."
        )
    resolved, digest, size = resolve_image(self, uri)
    if from_update and updated_spec.get("DryRun"):
        return None
    if from_update:
        # [L1] What the function ran before this update, for image_while_updating "old".
        self._emu_previous_code = {k: self.code.get(k) for k in ("ImageUri", "ResolvedImageUri")}
    self.code_sha_256 = digest.split(":", 1)[1]
    self.code_size = size
    self.code["ImageUri"] = uri
    self.code["ResolvedImageUri"] = resolved
    return None


LambdaFunction._set_function_code = set_function_code

_orig_get_code = LambdaFunction.get_code


def get_code(self: LambdaFunction) -> dict[str, Any]:
    """[L5] [L6] Code.ResolvedImageUri as resolved at create/update time, from
    this version's own code."""
    resp = _orig_get_code(self)
    code = resp.get("Code") or {}
    if "ImageUri" in self.code and "ResolvedImageUri" in self.code:
        code["ImageUri"] = self.code["ImageUri"]
        code["ResolvedImageUri"] = self.code["ResolvedImageUri"]
        previous = getattr(self, "_emu_previous_code", None)
        if (
            previous
            and previous.get("ResolvedImageUri")
            and is_updating(self)
            and STATE.settings(self.function_name)["image_while_updating"] == "old"
        ):
            code["ImageUri"] = previous["ImageUri"]
            code["ResolvedImageUri"] = previous["ResolvedImageUri"]
    return resp


LambdaFunction.get_code = get_code


# ---------------------------------------------------------------------------
# Lambda: weighted aliases [L8]
# ---------------------------------------------------------------------------

from moto.awslambda.models import LambdaAlias  # noqa: E402

ALIAS_ROUTING_VALUE = (
    "Map value must satisfy constraint: [Member must have value less than or equal to 1.0, "
    "Member must have value greater than or equal to 0.0, Member must not be null]"
)
ALIAS_ROUTING_KEY = (
    "Map keys must satisfy constraint: [Member must have length less than or equal to 1024, "
    "Member must have length greater than or equal to 1, Member must satisfy regular "
    "expression pattern: [0-9]+]"
)


def dead_letter_target(fn: LambdaFunction) -> str | None:
    return getattr(fn, "_emu_dlq", None)


def unqualified_arn(backend: LambdaBackend, function_name: str) -> str:
    fn = backend._lambdas.get_function_by_name_or_arn_forbid_qualifier(function_name)
    return fn.function_arn


def function_at(backend: LambdaBackend, function_name: str, version: str) -> LambdaFunction:
    """The function's $LATEST or published version `version`; 404 as Lambda words it."""
    latest = backend._lambdas.get_function_by_name_or_arn_forbid_qualifier(function_name)
    if version == "$LATEST":
        return latest
    found = backend._lambdas._get_version(latest.function_name, version)
    if found is None:
        raise ResourceNotFound(f"Function not found: {latest.function_arn}:{version}")
    return found


def java_map(key: str, value: Any) -> str:
    try:
        shown = str(float(value))
    except (TypeError, ValueError):
        shown = str(value)
    return "{" + f"{key}={shown}" + "}"


def validate_routing(
    backend: LambdaBackend, function_name: str, function_version: str, routing: Any
) -> dict[str, Any] | None:
    """[L8] RoutingConfig as Lambda checks it (AWS's answers recorded in
    LocalStack's test_lambda_api.snapshot.json, test_notfound_and_invalid_routingconfigs);
    an empty one (or none) means a single version."""
    weights = (routing or {}).get("AdditionalVersionWeights") or {}
    if not weights:
        return None
    if len(weights) > 1:
        raise InvalidParameterValue("Number of items in AdditionalVersionWeights cannot be greater than 1")
    (key, value), = weights.items()
    key = str(key)
    try:
        weight = float(value)
    except (TypeError, ValueError):
        weight = float("nan")
    if not 0.0 <= weight <= 1.0:
        raise ValidationError(
            f"1 validation error detected: Value '{java_map(key, value)}' at "
            f"'routingConfig.additionalVersionWeights' failed to satisfy constraint: {ALIAS_ROUTING_VALUE}"
        )
    if key == function_version:
        raise InvalidParameterValue(
            f"Invalid function version {key}. Function version {key} is already included in routing configuration."
        )
    if function_version == "$LATEST":
        raise InvalidParameterValue(
            "$LATEST is not supported for an alias pointing to more than 1 version", typed=False
        )
    if not re.fullmatch(r"[0-9]+", key) or len(key) > 1024:
        raise ValidationError(
            f"1 validation error detected: Value '{java_map(key, value)}' at "
            f"'routingConfig.additionalVersionWeights' failed to satisfy constraint: {ALIAS_ROUTING_KEY}"
        )
    primary = function_at(backend, function_name, function_version)
    other = function_at(backend, function_name, key)
    # Lambda Developer Guide, "Implement Lambda canary deployments using a
    # weighted alias": both versions must have the same execution role and the
    # same dead-letter queue configuration (or none).
    if primary.role != other.role:
        # Wording seen from UpdateAlias in serverless-heaven/serverless-aws-alias#64.
        raise InvalidParameterValue("Specified versions must be associated with the same execution role")
    if dead_letter_target(primary) != dead_letter_target(other):
        # Wording uncertain (FIDELITY.md, L8): no recorded answer found.
        raise InvalidParameterValue(
            "Specified versions must be associated with the same dead letter queue configuration"
        )
    return {"AdditionalVersionWeights": {key: weight}}


def alias_json(alias: LambdaAlias) -> dict[str, Any]:
    """[L8] GetAlias / CreateAlias / UpdateAlias / ListAliases: RoutingConfig
    only when it holds a weight (recorded)."""
    out = {
        "AliasArn": alias.arn,
        "Description": alias.description or "",
        "FunctionVersion": alias.function_version,
        "Name": alias.name,
        "RevisionId": alias.revision_id,
    }
    weights = (alias.routing_config or {}).get("AdditionalVersionWeights")
    if weights:
        out["RoutingConfig"] = {"AdditionalVersionWeights": dict(weights)}
    return out


def record_alias(function_name: str, alias: LambdaAlias, op: str) -> None:
    with LOCK:
        STATE.alias_history.setdefault((function_name, alias.name), []).append(
            {
                "at": time.time(),
                "op": op,
                "function_version": alias.function_version,
                "weights": dict((alias.routing_config or {}).get("AdditionalVersionWeights") or {}),
                "revision_id": alias.revision_id,
            }
        )


def get_alias_or_404(backend: LambdaBackend, function_name: str, name: str, verb: str) -> LambdaAlias:
    latest = backend._lambdas.get_function_by_name_or_arn_forbid_qualifier(function_name)
    aliases = backend._lambdas._get_function_aliases(latest.function_name)
    if name not in aliases:
        if verb == "update":
            raise ResourceNotFound(f"Alias not found: {latest.function_arn}:{name}")
        raise ResourceNotFound(f"Cannot find alias arn: {latest.function_arn}:{name}")
    return aliases[name]


def alias_path(self: Any) -> tuple[str, str]:
    parts = self.path.split("?", 1)[0].rstrip("/").split("/")
    return function_name_of(parts[-3]), unquote(parts[-1])


def responses_create_alias(self: Any) -> Any:
    """[L8] CreateAlias with RoutingConfig checked as Lambda does; 201."""
    function_name = function_name_of(self.path.split("?", 1)[0].rstrip("/").split("/")[-2])
    params = json.loads(self.body or "{}")
    name = params.get("Name")
    version = str(params.get("FunctionVersion") or "")
    with LOCK:
        latest = self.backend._lambdas.get_function_by_name_or_arn_forbid_qualifier(function_name)
        function_at(self.backend, function_name, version)
        routing = validate_routing(self.backend, function_name, version, params.get("RoutingConfig"))
        aliases = self.backend._lambdas._get_function_aliases(latest.function_name)
        if name in aliases:
            raise ResourceConflict(f"Alias already exists: {latest.function_arn}:{name}")
        alias = LambdaAlias(
            account_id=self.current_account,
            region=self.region,
            name=name,
            function_name=latest.function_name,
            function_version=version,
            description=params.get("Description", ""),
            routing_config=routing,  # type: ignore[arg-type]
        )
        aliases[name] = alias
        record_alias(latest.function_name, alias, "create")
        return 201, {"status": 201}, json.dumps(alias_json(alias))


def responses_get_alias(self: Any) -> Any:
    """[L8] GetAlias: 200 (moto: 201), RoutingConfig included."""
    function_name, name = alias_path(self)
    with LOCK:
        alias = get_alias_or_404(self.backend, function_name, name, "get")
        return 200, {"status": 200}, json.dumps(alias_json(alias))


def responses_update_alias(self: Any) -> Any:
    """[L8] UpdateAlias checks RevisionId (412) and makes a new one, even
    when nothing changes (recorded); RoutingConfig {} removes the weights."""
    function_name, name = alias_path(self)
    params = json.loads(self.body or "{}")
    with LOCK:
        alias = get_alias_or_404(self.backend, function_name, name, "update")
        wanted = params.get("RevisionId")
        if wanted and wanted != alias.revision_id:
            raise PreconditionFailed()
        version = str(params["FunctionVersion"]) if params.get("FunctionVersion") else alias.function_version
        function_at(self.backend, function_name, version)
        if "RoutingConfig" in params:
            routing = validate_routing(self.backend, function_name, version, params.get("RoutingConfig"))
        else:
            # The weights kept must still hold against the (new) FunctionVersion.
            routing = validate_routing(self.backend, function_name, version, alias.routing_config)
        alias.function_version = version
        alias.routing_config = routing  # type: ignore[assignment]
        if params.get("Description") is not None:
            alias.description = params["Description"]
        alias.revision_id = str(uuid.uuid4())
        record_alias(alias.arn.split(":function:", 1)[1].split(":")[0], alias, "update")
        return 200, {"status": 200}, json.dumps(alias_json(alias))


def responses_delete_alias(self: Any) -> Any:
    """[L8] DeleteAlias: 204, recorded in the alias's history."""
    function_name, name = alias_path(self)
    with LOCK:
        latest = self.backend._lambdas.get_function_by_name_or_arn_forbid_qualifier(function_name)
        aliases = self.backend._lambdas._get_function_aliases(latest.function_name)
        alias = aliases.pop(name, None)
        if alias is not None:
            record_alias(latest.function_name, alias, "delete")
    return 204, {"status": 204}, ""


def responses_list_aliases(self: Any) -> Any:
    """[L8] ListAliases with RoutingConfig as GetAlias shows it."""
    function_name = function_name_of(self.path.split("?", 1)[0].rstrip("/").split("/")[-2])
    with LOCK:
        latest = self.backend._lambdas.get_function_by_name_or_arn_forbid_qualifier(function_name)
        aliases = sorted(self.backend._lambdas._get_function_aliases(latest.function_name).values(),
                         key=lambda a: a.name)
        wanted_version = self.querystring.get("FunctionVersion", [None])[0]
        listed = [alias_json(a) for a in aliases if not wanted_version or a.function_version == wanted_version]
    return 200, {}, json.dumps({"Aliases": listed})


lambda_responses.LambdaResponse.create_alias = responses_create_alias
lambda_responses.LambdaResponse.get_alias = responses_get_alias
lambda_responses.LambdaResponse.update_alias = responses_update_alias
lambda_responses.LambdaResponse.delete_alias = responses_delete_alias
lambda_responses.LambdaResponse.list_aliases = responses_list_aliases


# DeadLetterConfig: moto drops it; the launcher keeps the target ARN so the
# weighted-alias check above can compare versions. [L8]

_orig_update_configuration = LambdaFunction.update_configuration


def update_configuration(self: LambdaFunction, config_updates: dict[str, Any]) -> Any:
    if "DeadLetterConfig" in config_updates:
        self._emu_dlq = (config_updates.get("DeadLetterConfig") or {}).get("TargetArn") or None
    return _orig_update_configuration(self, config_updates)


LambdaFunction.update_configuration = update_configuration
_orig_function_init = LambdaFunction.__init__


def function_init(self: LambdaFunction, account_id: str, spec: dict[str, Any], *args: Any, **kw: Any) -> None:
    _orig_function_init(self, account_id, spec, *args, **kw)
    self._emu_dlq = (spec.get("DeadLetterConfig") or {}).get("TargetArn") or None


LambdaFunction.__init__ = function_init


# ---------------------------------------------------------------------------
# Lambda: Invoke of image functions [L9]
# ---------------------------------------------------------------------------

INVOKE_KEYS = {"qualifier", "status", "function_error", "payload", "log", "error_type"}
LOG_TAIL_BYTES = 4096


def invoke_answer(function_name: str, version: str) -> dict[str, Any]:
    with LOCK:
        answers = STATE.invoke_answers.get(function_name, {})
        answer = answers.get(version) or answers.get("*") or {}
    return {"status": 200, "function_error": None, "payload": None, "log": "", "error_type": None, **answer}


_orig_invoke = lambda_responses.LambdaResponse.invoke


def responses_invoke(self: Any) -> Any:
    """[L9] Invoke of an image function (moto cannot run one): the answer
    configured through the control API for the version that runs; every call
    recorded. A Pending version refuses with 409, as Lambda does."""
    raw_name = unquote(self.path.split("?", 1)[0].rstrip("/").rsplit("/", 2)[-2])
    function_name = function_name_of(raw_name)
    qualifier = self.querystring.get("Qualifier", [None])[0]
    tail = raw_name.split(":function:", 1)[-1]
    if qualifier is None and ":" in tail:
        qualifier = tail.split(":", 1)[1]
    with LOCK:
        latest = self.backend._lambdas.get_function_by_name_or_arn_forbid_qualifier(function_name)
        if latest.package_type != "Image":
            return _orig_invoke(self)
        target = qualifier or "$LATEST"
        aliases = self.backend._lambdas._get_function_aliases(latest.function_name)
        executed = target
        if target in aliases:
            alias = aliases[target]
            executed = alias.function_version
            weights = (alias.routing_config or {}).get("AdditionalVersionWeights") or {}
            for other, weight in weights.items():
                if random.random() < float(weight):
                    executed = other
        fn = function_at(self.backend, function_name, executed)
        invocation_type = self.headers.get("X-Amz-Invocation-Type") or "RequestResponse"
        try:
            payload_in: Any = json.loads(self.body) if self.body else None
        except (TypeError, ValueError):
            payload_in = self.body if isinstance(self.body, str) else None
        record = {
            "at": time.time(),
            "qualifier": qualifier,
            "executed_version": executed,
            "payload": payload_in,
            "invocation_type": invocation_type,
            "log_type": self.headers.get("X-Amz-Log-Type"),
        }
        STATE.invocations.setdefault(latest.function_name, []).append(record)
        if is_pending(fn):
            record["status"] = 409
            raise ResourceConflict(
                "The operation cannot be performed at this time. The resource "
                f"{fn.function_arn} is currently in the following state: 'Pending'. "
                f"StateReasonCode: '{PENDING_REASON_CODE}'"
            )
        answer = invoke_answer(latest.function_name, executed)
        headers: dict[str, str] = {"X-Amz-Executed-Version": executed}
        if invocation_type == "Event":
            record["status"] = 202
            return 202, {**headers, "status": "202"}, ""
        if invocation_type == "DryRun":
            record["status"] = 204
            return 204, {**headers, "status": "204"}, ""
        status = int(answer["status"])
        record["status"] = status
        headers["status"] = str(status)  # moto answers with this header's status
        if status >= 400 and answer["error_type"]:
            headers["X-Amzn-ErrorType"] = str(answer["error_type"])
        if answer["function_error"]:
            headers["X-Amz-Function-Error"] = str(answer["function_error"])
        if self.headers.get("X-Amz-Log-Type") == "Tail":
            log = str(answer["log"] or "").encode("utf-8")[-LOG_TAIL_BYTES:]
            headers["X-Amz-Log-Result"] = base64.b64encode(log).decode("ascii")
        headers["Content-Type"] = "application/json"
        return status, headers, json.dumps(answer["payload"])


lambda_responses.LambdaResponse.invoke = responses_invoke


# ---------------------------------------------------------------------------
# ECR [E7] .. [E11]
# ---------------------------------------------------------------------------


class ImageTagAlreadyExistsException(ServiceException):
    code = "ImageTagAlreadyExistsException"


class ImageDigestDoesNotMatchException(ServiceException):
    code = "ImageDigestDoesNotMatchException"


class LayersNotFoundException(ServiceException):
    code = "LayersNotFoundException"


class ReferencedImagesNotFoundException(ServiceException):
    code = "ReferencedImagesNotFoundException"


class LayerInaccessibleException(ServiceException):
    code = "LayerInaccessibleException"


class InvalidLayerException(ServiceException):
    code = "InvalidLayerException"


class LayerAlreadyExistsException(ServiceException):
    code = "LayerAlreadyExistsException"


def get_repository(backend: ECRBackend, name: str, registry_id: str | None = None):
    """[E10] A missing repository is RepositoryNotFoundException (HTTP 400)."""
    return backend._get_repository(name, registry_id)


def drop_tag(image: Any, tag: str) -> None:
    """Take `tag` off `image`, leaving it in the repository (untagged if that
    was its last tag)."""
    if tag in image.image_tags:
        image.image_tags.remove(tag)
    image.image_tag = image.image_tags[-1] if image.image_tags else None


def put_image(
    self: ECRBackend,
    repository_name: str,
    image_manifest: str,
    image_tag: str | None,
    image_manifest_mediatype: str | None = None,
    digest: str | None = None,
) -> Any:
    """[E7] [E10] replaces moto's PutImage."""
    with LOCK:
        repository = get_repository(self, repository_name)
        try:
            parsed = json.loads(image_manifest)
        except (TypeError, ValueError):
            raise InvalidParameterException(
                "Invalid parameter at 'ImageManifest' failed to satisfy constraint: 'Invalid JSON syntax'"
            )
        if not isinstance(parsed, dict):
            raise InvalidParameterException(
                "Invalid parameter at 'ImageManifest' failed to satisfy constraint: 'Invalid JSON syntax'"
            )
        media_type = image_manifest_mediatype or parsed.get("mediaType")
        if not media_type:
            raise InvalidParameterException(
                "image manifest mediatype not provided in manifest or parameter"
            )
        # ECR's digest is the sha256 of the manifest exactly as sent.
        computed = "sha256:" + hashlib.sha256(image_manifest.encode("utf-8")).hexdigest()
        if digest and digest != computed:
            raise ImageDigestDoesNotMatchException(
                "The specified image digest does not match the digest that "
                "Amazon ECR calculated for the image."
            )
        require_references(repository, repository_name, parsed)
        existing = next((i for i in repository.images if i.get_image_digest() == computed), None)
        if existing is not None and image_tag in existing.image_tags:
            raise ImageAlreadyExistsException(
                registry_id=repository.registry_id,
                image_tag=image_tag,
                digest=computed,
                repository_name=repository_name,
            )
        if existing is not None and not image_tag:
            return existing
        holder = None
        if image_tag:
            holder = next((i for i in repository.images if image_tag in i.image_tags), None)
        if holder is not None and holder is not existing:
            try:
                # moto's mutability rules (exclusion filters included) are
                # right; only the exception it raises is wrong.
                self._resolve_image_tag_mutability(repository, image_tag)
            except ImageAlreadyExistsException:
                raise ImageTagAlreadyExistsException(
                    f"The image tag '{image_tag}' already exists in the "
                    f"'{repository_name}' repository and cannot be overwritten "
                    "because the repository is immutable."
                )
            # A mutable tag moves; the image it leaves stays, maybe untagged.
            drop_tag(holder, image_tag)
        if existing is not None:
            existing.update_tag(image_tag)
            return existing
        image = ecr_models.Image(
            self.account_id,
            image_tag,
            image_manifest,
            repository_name,
            media_type,
            computed,
            repository.registry_id,
        )
        repository.images.append(image)
        return image


ECRBackend.put_image = put_image

IMAGE_DIGEST_RE = re.compile(r"^[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+$")


def batch_get_image(
    self: ECRBackend,
    repository_name: str,
    registry_id: str | None = None,
    image_ids: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """[E7] [E10] Finds by digest any image (tagged or not), requires tag and
    digest to agree when both are given, and echoes the imageId asked for."""
    with LOCK:
        repository = get_repository(self, repository_name, registry_id)
        response: dict[str, Any] = {"images": [], "failures": []}
        for image_id in image_ids or []:
            tag = image_id.get("imageTag")
            digest = image_id.get("imageDigest")
            asked = {k: v for k, v in (("imageDigest", digest), ("imageTag", tag)) if v}

            def failure(code: str, reason: str) -> None:
                response["failures"].append(
                    {"imageId": dict(asked), "failureCode": code, "failureReason": reason}
                )

            if not tag and not digest:
                failure(
                    "MissingDigestAndTag",
                    "Invalid request parameters: both tag and digest cannot be null",
                )
                continue
            if digest and not IMAGE_DIGEST_RE.match(digest):
                failure(
                    "InvalidImageDigest",
                    "Invalid request parameters: image digest should satisfy the "
                    "regex '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'",
                )
                continue
            if digest:
                image = next(
                    (i for i in repository.images if i.get_image_digest() == digest), None
                )
                if image is not None and tag and tag not in image.image_tags:
                    failure(
                        "ImageTagDoesNotMatchDigest",
                        "Invalid request parameters: image tag does not match digest",
                    )
                    continue
            else:
                image = next((i for i in repository.images if tag in i.image_tags), None)
            if image is None:
                failure("ImageNotFound", "Requested image not found")
                continue
            response["images"].append(
                {
                    "registryId": repository.registry_id,
                    "repositoryName": repository.name,
                    "imageId": {**asked, "imageDigest": image.get_image_digest()},
                    "imageManifest": image.image_manifest,
                    "imageManifestMediaType": image.image_manifest_media_type,
                }
            )
        return response


ECRBackend.batch_get_image = batch_get_image


def encode_token(offset: int, kind: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset, "k": kind}).encode()).decode()


def decode_token(token: str | None, kind: str) -> int:
    if not token:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        if data["k"] != kind or not isinstance(data["o"], int) or data["o"] < 0:
            raise ValueError
        return data["o"]
    except Exception:
        raise InvalidParameterException("Invalid parameter at 'nextToken' failed to satisfy constraint: 'Invalid token'")


def check_max_results(value: Any, low: int, high: int) -> int | None:
    if value is None:
        return None
    value = int(value)
    if value < low or value > high:
        bound = (
            f"Member must have value greater than or equal to {low}"
            if value < low
            else f"Member must have value less than or equal to {high}"
        )
        raise ValidationException(
            f"1 validation error detected: Value '{value}' at 'maxResults' failed to satisfy constraint: {bound}"
        )
    return value


def describe_images(self: ECRResponse) -> ActionResult:
    """[E9] maxResults (1-1000, default 100), nextToken, filter.tagStatus."""
    repository_name = self._get_param("repositoryName")
    registry_id = self._get_param("registryId")
    image_ids = self._get_param("imageIds")
    tag_status = (self._get_param("filter") or {}).get("tagStatus", "ANY")
    max_results = check_max_results(self._get_param("maxResults"), 1, 1000)
    next_token = self._get_param("nextToken")
    if image_ids and (max_results is not None or next_token):
        raise InvalidParameterException(
            "Invalid parameter at 'maxResults' failed to satisfy constraint: "
            "'maxResults' and 'nextToken' cannot be used with 'imageIds'"
        )
    with LOCK:
        # [E13] imageIds (all or nothing) and filter.imageStatus (default ACTIVE).
        images = retention.describe_images(
            self.ecr_backend, repository_name, registry_id, image_ids, self._get_param("filter")
        )
    token_out = None
    if not image_ids:
        if tag_status == "TAGGED":
            images = [i for i in images if i.image_tags]
        elif tag_status == "UNTAGGED":
            images = [i for i in images if not i.image_tags]
        start = decode_token(next_token, "describe_images")
        limit = max_results or 100
        page = images[start : start + limit]
        if start + limit < len(images):
            token_out = encode_token(start + limit, "describe_images")
        images = page
    details = []
    for image in images:
        dto = copy.copy(image)
        if not dto.image_tags:
            del dto.image_tags
        retention.decorate(dto, image)  # [E13]
        details.append(dto)
    result: dict[str, Any] = {"imageDetails": details}
    if token_out:
        result["nextToken"] = token_out
    return ActionResult(result)


ECRResponse.describe_images = describe_images


def list_images(self: ECRResponse) -> ActionResult:
    """[E9] ListImages honours maxResults (1-1000, default 100) and nextToken too."""
    repository_name = self._get_param("repositoryName")
    registry_id = self._get_param("registryId")
    tag_status = (self._get_param("filter") or {}).get("tagStatus", "ANY")
    max_results = check_max_results(self._get_param("maxResults"), 1, 1000)
    start = decode_token(self._get_param("nextToken"), "list_images")
    with LOCK:
        images = self.ecr_backend.list_images(repository_name, registry_id, tag_status=tag_status)
        images = retention.list_images_filter(images, self._get_param("filter"))  # [E13]
        ids = [
            {"imageDigest": image.image_digest, "imageTag": tag}
            if tag
            else {"imageDigest": image.image_digest}
            for image in images
            for tag in (image.image_tags or [None])
        ]
    limit = max_results or 100
    result: dict[str, Any] = {"imageIds": ids[start : start + limit]}
    if start + limit < len(ids):
        result["nextToken"] = encode_token(start + limit, "list_images")
    return ActionResult(result)


ECRResponse.list_images = list_images


def parsed_manifest(image: Any) -> dict[str, Any] | None:
    """The image's manifest as JSON, parsed once (an image's bytes never change)."""
    cached = getattr(image, "_emu_parsed", None)
    if cached is None or cached[0] is not image.image_manifest:
        try:
            doc = json.loads(image.image_manifest)
        except (TypeError, ValueError):
            doc = None
        cached = (image.image_manifest, doc if isinstance(doc, dict) else None)
        image._emu_parsed = cached
    return cached[1]


def referrer_index(repository: Any) -> dict[str, list[Any]]:
    """subject digest -> images naming it, rebuilt when the repository's images
    change (a scan asks once per image; rescanning every manifest each time
    would be quadratic)."""
    fingerprint = tuple((id(i), i.get_image_digest()) for i in repository.images)
    cached = getattr(repository, "_emu_referrers", None)
    if cached is not None and cached[0] == fingerprint:
        return cached[1]
    index: dict[str, list[Any]] = {}
    for image in repository.images:
        manifest = parsed_manifest(image)
        subject = (manifest or {}).get("subject")
        if isinstance(subject, dict) and subject.get("digest"):
            index.setdefault(subject["digest"], []).append(image)
    repository._emu_referrers = (fingerprint, index)
    return index


def list_image_referrers(
    self: ECRBackend,
    repository_name: str,
    subject_digest: str,
    artifact_types: list[str] | None,
    artifact_status: str | None,
    registry_id: str | None,
) -> list[dict[str, Any]]:
    """[E8] Stored manifests whose subject.digest is the subject's digest."""
    with LOCK:
        repository = get_repository(self, repository_name, registry_id)
        if artifact_status not in (None, "ACTIVE", "ANY"):
            return []
        referrers = []
        for image in referrer_index(repository).get(subject_digest, []):
            manifest = parsed_manifest(image) or {}
            artifact_type = manifest.get("artifactType") or (manifest.get("config") or {}).get(
                "mediaType"
            )
            if artifact_types and artifact_type not in artifact_types:
                continue
            referrer: dict[str, Any] = {
                "digest": image.get_image_digest(),
                "mediaType": manifest.get("mediaType") or image.image_manifest_media_type,
                "size": len(image.image_manifest.encode("utf-8")),
                "artifactStatus": "ACTIVE",
            }
            if artifact_type:
                referrer["artifactType"] = artifact_type
            if manifest.get("annotations"):
                referrer["annotations"] = manifest["annotations"]
            referrers.append(referrer)
        return referrers


ECRBackend.list_image_referrers = list_image_referrers


def responses_list_image_referrers(self: ECRResponse) -> ActionResult:
    """[E8] ListImageReferrers: maxResults 1-50, nextToken."""
    subject = self._get_param("subjectId") or {}
    flt = self._get_param("filter") or {}
    max_results = check_max_results(self._get_param("maxResults"), 1, 50)
    start = decode_token(self._get_param("nextToken"), "list_image_referrers")
    referrers = self.ecr_backend.list_image_referrers(
        self._get_param("repositoryName"),
        subject.get("imageDigest"),
        flt.get("artifactTypes"),
        flt.get("artifactStatus"),
        self._get_param("registryId"),
    )
    limit = max_results or 50
    result: dict[str, Any] = {"referrers": referrers[start : start + limit]}
    if start + limit < len(referrers):
        result["nextToken"] = encode_token(start + limit, "list_image_referrers")
    return ActionResult(result)


ECRResponse.list_image_referrers = responses_list_image_referrers


# [E11] layer blobs -----------------------------------------------------------

_orig_complete_layer_upload = ECRBackend.complete_layer_upload


def complete_layer_upload(
    self: ECRBackend,
    repository_name: str,
    upload_id: str,
    layer_digests: list[str],
    registry_id: str | None = None,
) -> dict[str, Any]:
    """[E11] Keep the bytes; check the digest the client named."""
    with LOCK:
        repository = get_repository(self, repository_name, registry_id)
        upload = repository.uploads.get(upload_id)
        data = bytes(upload.layer_parts) if upload is not None else b""
        computed = "sha256:" + hashlib.sha256(data).hexdigest()
        if upload is not None:
            if layer_digests and computed not in layer_digests:
                raise InvalidLayerException(
                    f"The layer digest calculation performed by Amazon ECR upon receipt "
                    f"of the image layer does not match the digest specified: {layer_digests[0]}"
                )
            if computed in getattr(repository, "_emu_blobs", {}):
                raise LayerAlreadyExistsException(
                    f"Layer {computed} already exists in the repository with name "
                    f"'{repository_name}' in registry with id '{repository.registry_id}'"
                )
        result = _orig_complete_layer_upload(self, repository_name, upload_id, layer_digests, registry_id)
        if not hasattr(repository, "_emu_blobs"):
            repository._emu_blobs = {}
        repository._emu_blobs[result["layerDigest"]] = data
        return result


ECRBackend.complete_layer_upload = complete_layer_upload


# Layers a client never pushes: their bytes live at the URLs their descriptor names
# (Windows base layers). [E19]
NON_DISTRIBUTABLE = {
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
}


def require_references(repository: Any, repository_name: str, manifest: dict[str, Any]) -> None:
    """[E19] ECR refuses a PutImage of an image manifest whose config or layer blobs
    were never uploaded to the repository (LayersNotFoundException), and of an index
    / manifest list naming a manifest the repository does not hold
    (ReferencedImagesNotFoundException). In every repository but those a test opted
    out (control API), unless EMULATOR_REQUIRE_BLOBS=0."""
    if not STATE.require_blobs_everywhere or repository_name in STATE.allow_missing:
        return
    if isinstance(manifest.get("manifests"), list):
        held = {image.get_image_digest() for image in repository.images}
        absent = [
            entry["digest"]
            for entry in manifest["manifests"]
            if isinstance(entry, dict) and entry.get("digest") and entry["digest"] not in held
        ]
        if absent:
            raise ReferencedImagesNotFoundException(
                f"The manifest list is referencing an image that does not exist: "
                f"[{', '.join(absent)}]"
            )
        return
    blobs = getattr(repository, "_emu_blobs", {})
    wanted = [manifest.get("config") or {}] + list(manifest.get("layers") or [])
    missing = [
        entry["digest"]
        for entry in wanted
        if isinstance(entry, dict)
        and entry.get("digest")
        and entry.get("mediaType") not in NON_DISTRIBUTABLE
        and entry["digest"] not in blobs
    ]
    if missing:
        raise LayersNotFoundException(
            f"Layers with digests '[{', '.join(missing)}]' required for pushing image into "
            f"repository with name '{repository_name}' in the registry with id "
            f"'{repository.registry_id}' do not exist"
        )


def referenced_digests(repository: Any) -> set[str]:
    digests: set[str] = set()
    for image in repository.images:
        manifest = parsed_manifest(image)
        if manifest is None:
            continue
        for entry in [manifest.get("config") or {}] + list(manifest.get("layers") or []):
            if isinstance(entry, dict) and entry.get("digest"):
                digests.add(entry["digest"])
    return digests


def responses_get_download_url_for_layer(self: ECRResponse) -> ActionResult:
    """[E11] GetDownloadUrlForLayer: a launcher URL carrying a random token."""
    repository_name = self._get_param("repositoryName")
    registry_id = self._get_param("registryId")
    digest = self._get_param("layerDigest")
    with LOCK:
        repository = get_repository(self.ecr_backend, repository_name, registry_id)
        blobs = getattr(repository, "_emu_blobs", {})
        if digest not in blobs:
            raise LayersNotFoundException(
                "The specified layers could not be found, or the specified layer "
                "is not valid for this repository."
            )
        if digest not in referenced_digests(repository):
            raise LayerInaccessibleException(
                "The specified layer is not available because it is not associated "
                "with an image. Unassociated image layers may be cleaned up at any time."
            )
        token = secrets.token_urlsafe(32)
        STATE.blob_tokens[token] = (
            self.current_account,
            self.region,
            repository_name,
            digest,
        )
    return ActionResult(
        {
            "downloadUrl": f"http://127.0.0.1:{PORT}/_emulator/blobs/{token}",
            "layerDigest": digest,
        }
    )


ECRResponse.get_download_url_for_layer = responses_get_download_url_for_layer


def blob_bytes(token: str) -> bytes | None:
    with LOCK:
        where = STATE.blob_tokens.get(token)
        if where is None:
            return None
        account, region, repository_name, digest = where
        repository = ecr_models.ecr_backends[account][region].repositories.get(repository_name)
        if repository is None:
            return None
        return getattr(repository, "_emu_blobs", {}).get(digest)


# [E12] managed signing -------------------------------------------------------

SIGNING_STATUSES = {"IN_PROGRESS", "COMPLETE", "FAILED"}


def responses_describe_image_signing_status(self: ECRResponse) -> ActionResult:
    """[E12] DescribeImageSigningStatus: the statuses the control API set for the
    repository and digest (consumed one answer per call, the last one kept); none
    set: no signing profile (an empty list)."""
    repository_name = self._get_param("repositoryName")
    registry_id = self._get_param("registryId")
    image_id = self._get_param("imageId") or {}
    with LOCK:
        repository = get_repository(self.ecr_backend, repository_name, registry_id)
        digest = image_id.get("imageDigest")
        tag = image_id.get("imageTag")
        image = None
        for candidate in repository.images:
            if (digest and candidate.get_image_digest() == digest) or (
                tag and tag in candidate.image_tags
            ):
                image = candidate
                break
        if image is None:
            raise ImageNotFoundException(
                f"The image with imageId {json.dumps(image_id, sort_keys=True)} does not exist "
                f"within the repository with name '{repository_name}' in the registry with id "
                f"'{repository.registry_id}'"
            )
        digest = image.get_image_digest()
        queue = STATE.signing.get((repository_name, digest), [])
        statuses = queue[0] if queue else []
        if len(queue) > 1:
            queue.pop(0)
    return ActionResult(
        {
            "repositoryName": repository_name,
            "registryId": repository.registry_id,
            "imageId": {"imageDigest": digest},
            "signingStatuses": statuses,
        }
    )


ECRResponse.describe_image_signing_status = responses_describe_image_signing_status


class ImageNotFoundException(ServiceException):
    code = "ImageNotFoundException"


# ---------------------------------------------------------------------------
# CloudWatch [C1]
# ---------------------------------------------------------------------------

_orig_describe_alarms = cloudwatch_responses.CloudWatchResponse.describe_alarms


def describe_alarms(self: Any) -> Any:
    """[C1] Count DescribeAlarms requests per alarm name they name (and in
    all), whatever the protocol they came in (JSON 1.0, query, CBOR)."""
    names = self._get_param("AlarmNames", []) or []
    with LOCK:
        STATE.alarm_reads["*"] = STATE.alarm_reads.get("*", 0) + 1
        for name in names:
            STATE.alarm_reads[name] = STATE.alarm_reads.get(name, 0) + 1
    answer = _orig_describe_alarms(self)
    # [C2] Only the types asked for: without AlarmTypes, metric alarms only.
    types = self._get_param("AlarmTypes", []) or ["MetricAlarm"]
    result = dict(answer.result)  # type: ignore[call-overload]
    if "MetricAlarm" not in types:
        result["MetricAlarms"] = []
    if "CompositeAlarm" not in types:
        result["CompositeAlarms"] = []
    return ActionResult(result)


cloudwatch_responses.CloudWatchResponse.describe_alarms = describe_alarms


def put_composite_alarm(self: Any) -> Any:
    """[C2] PutCompositeAlarm, which moto 5.2.5 does not answer. moto's backend
    already keeps composite alarms (an alarm with a rule, answered under
    CompositeAlarms by DescribeAlarms); the rule is stored, not evaluated: a test
    sets the state with SetAlarmState. A new alarm starts INSUFFICIENT_DATA."""
    self.cloudwatch_backend.put_metric_alarm(
        name=self._get_param("AlarmName"),
        namespace=None,
        metric_name=None,
        comparison_operator=None,
        evaluation_periods=None,
        period=None,
        threshold=None,
        statistic=None,
        description=self._get_param("AlarmDescription"),
        dimensions=[],
        alarm_actions=self._get_param("AlarmActions", []) or [],
        rule=self._get_param("AlarmRule"),
    )
    return EmptyResult()


cloudwatch_responses.CloudWatchResponse.put_composite_alarm = put_composite_alarm  # type: ignore[attr-defined]

from moto.cloudwatch.models import CloudWatchBackend  # noqa: E402

_orig_put_metric_alarm = CloudWatchBackend.put_metric_alarm


def put_metric_alarm(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    """[C1] A new alarm starts INSUFFICIENT_DATA; an update keeps the alarm's
    state (Amazon CloudWatch API Reference, PutMetricAlarm). moto starts every
    alarm, new or updated, at OK."""
    with LOCK:
        prior = self.alarms.get(name)
        alarm = _orig_put_metric_alarm(self, name, *args, **kwargs)
        if prior is None:
            alarm.state_value = "INSUFFICIENT_DATA"
        else:
            for key in ("state_value", "state_reason", "state_reason_data", "state_updated_timestamp", "history"):
                if hasattr(prior, key):
                    setattr(alarm, key, getattr(prior, key))
        return alarm


CloudWatchBackend.put_metric_alarm = put_metric_alarm


# ---------------------------------------------------------------------------
# The WSGI front: control API, blob downloads, read counting
# ---------------------------------------------------------------------------

FUNCTION_PATH_RE = re.compile(
    r"^/2015-03-31/functions/(?P<name>[^/]+)"
    r"(?P<tail>/configuration|/code|/versions|/invocations|/aliases/[^/]+)?/?$"
)


def function_name_of(raw: str) -> str:
    name = unquote(raw)
    if ":function:" in name:
        name = name.split(":function:", 1)[1]
    return name.split(":", 1)[0]


def create_role() -> None:
    iam_backends[DEFAULT_ACCOUNT_ID]["aws"].create_role(
        role_name=ROLE,
        assume_role_policy_document="{}",
        path="/",
        permissions_boundary=None,
        description="ecr-lambda tests",
        tags=[],
        max_session_duration=None,
    )


def reset() -> None:
    with LOCK:
        moto_api_backend.reset()
        global STATE
        STATE = State()
        retention.reset()
        create_role()


class Emulator:
    def __init__(self, moto_app: Any):
        self.moto_app = moto_app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_emulator/"):
            try:
                status, body, content_type = self.control(environ, path)
            except BadRequest as e:
                status, body, content_type = 400, json.dumps({"message": str(e)}), "application/json"
            reason = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found"}.get(status, "")
            data = body if isinstance(body, bytes) else body.encode()
            start_response(
                f"{status} {reason}",
                [("Content-Type", content_type), ("Content-Length", str(len(data)))],
            )
            return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else data]
        if cbor_bridge.is_cbor_request(environ):
            # [C1] Smithy RPC v2 CBOR (aws-sdk-cloudwatch) translated for moto.
            return cbor_bridge.handle(environ, start_response, self.moto_app)
        self.count(environ, path)
        return self.moto_app(environ, start_response)

    @staticmethod
    def count(environ: dict[str, Any], path: str) -> None:
        m = FUNCTION_PATH_RE.match(path)
        if not m:
            return
        method = environ.get("REQUEST_METHOD")
        tail = m.group("tail") or ""
        call = None
        if method == "GET" and tail == "":
            call = "get_function"
        elif method == "GET" and tail == "/configuration":
            call = "get_function_configuration"
        elif method == "PUT" and tail == "/code":
            call = "update_function_code"
        elif method == "POST" and tail == "/versions":
            call = "publish_version"
        elif method == "POST" and tail == "/invocations":
            call = "invoke"
        elif method == "GET" and tail.startswith("/aliases/"):
            call = "get_alias"
        elif method == "PUT" and tail.startswith("/aliases/"):
            call = "update_alias"
        if call:
            with LOCK:
                STATE.count(function_name_of(m.group("name")), call)

    @staticmethod
    def read_json(environ: dict[str, Any]) -> dict[str, Any]:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        raw = environ["wsgi.input"].read(length) if length else b""
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except ValueError:
            raise BadRequest("body is not JSON")
        if not isinstance(body, dict):
            raise BadRequest("body must be a JSON object")
        return body

    @staticmethod
    def validate_settings(body: dict[str, Any]) -> dict[str, Any]:
        unknown = set(body) - SETTING_KEYS
        if unknown:
            raise BadRequest(f"unknown settings: {sorted(unknown)}")
        out: dict[str, Any] = {}
        for key in ("update_seconds", "pending_seconds", "provision_seconds"):
            if key in body:
                try:
                    out[key] = float(body[key])
                except (TypeError, ValueError):
                    raise BadRequest(f"{key} must be a number")
                if out[key] < 0:
                    raise BadRequest(f"{key} must not be negative")
        if "outcome" in body:
            if body["outcome"] not in ("Successful", "Failed"):
                raise BadRequest("outcome must be Successful or Failed")
            out["outcome"] = body["outcome"]
        for key in ("reason_code", "reason"):
            if key in body:
                out[key] = str(body[key])
        if "image_while_updating" in body:
            if body["image_while_updating"] not in ("new", "old"):
                raise BadRequest("image_while_updating must be new or old")
            out["image_while_updating"] = body["image_while_updating"]
        return out

    @staticmethod
    def validate_invoke(body: dict[str, Any]) -> dict[str, Any]:
        """[L9] One Invoke answer: {"qualifier": "N" | "$LATEST" | "*", "status":
        int, "function_error": "Handled" | "Unhandled" | null, "payload": any
        JSON, "log": str, "error_type": str | null}; all optional."""
        unknown = set(body) - INVOKE_KEYS
        if unknown:
            raise BadRequest(f"unknown invoke keys: {sorted(unknown)}")
        qualifier = str(body.get("qualifier", "*"))
        if qualifier not in ("*", "$LATEST") and not qualifier.isdigit():
            raise BadRequest("qualifier must be a version number, $LATEST or *")
        status = body.get("status", 200)
        if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
            raise BadRequest("status must be an HTTP status code")
        function_error = body.get("function_error")
        if function_error not in (None, "Handled", "Unhandled"):
            raise BadRequest("function_error must be Handled, Unhandled or null")
        log = body.get("log", "")
        if not isinstance(log, str):
            raise BadRequest("log must be a string")
        error_type = body.get("error_type")
        if error_type is not None and not isinstance(error_type, str):
            raise BadRequest("error_type must be a string or null")
        return {
            "qualifier": qualifier,
            "status": status,
            "function_error": function_error,
            "payload": body.get("payload"),
            "log": log,
            "error_type": error_type,
        }

    def control(self, environ: dict[str, Any], path: str) -> tuple[int, Any, str]:
        method = environ.get("REQUEST_METHOD")
        parts = [unquote(p) for p in path.split("/")[2:]]  # after "/_emulator"
        if method == "POST" and parts == ["reset"]:
            reset()
            return 200, "{}", "application/json"
        if (
            len(parts) >= 4
            and parts[:2] == ["ecr", "repositories"]
            and parts[-1] in ("require-blobs", "allow-missing")
            and method == "POST"
        ):
            # [E19] Whether this repository's PutImage refuses manifests whose blobs or
            # children are missing (the default) or stores them. The name may hold "/".
            name = "/".join(parts[2:-1])
            with LOCK:
                if parts[-1] == "allow-missing":
                    STATE.allow_missing.add(name)
                else:
                    STATE.allow_missing.discard(name)
            return 200, "{}", "application/json"
        if method == "POST" and parts == ["lambda", "defaults"]:
            settings = self.validate_settings(self.read_json(environ))
            with LOCK:
                STATE.defaults.update(settings)
            return 200, "{}", "application/json"
        if len(parts) == 4 and parts[:2] == ["lambda", "functions"] and parts[3] == "reads" and method == "GET":
            with LOCK:
                counts = dict(STATE.reads.get(function_name_of(parts[2]), {key: 0 for key in READ_KEYS}))
            return 200, json.dumps(counts), "application/json"
        if len(parts) == 4 and parts[:2] == ["lambda", "functions"] and parts[3] == "updates" and method == "GET":
            with LOCK:
                updates = [dict(u) for u in STATE.updates.get(function_name_of(parts[2]), [])]
            return 200, json.dumps({"updates": updates}), "application/json"
        if len(parts) == 4 and parts[:2] == ["lambda", "functions"] and parts[3] == "invocations" and method == "GET":
            with LOCK:
                calls = [dict(c) for c in STATE.invocations.get(function_name_of(parts[2]), [])]
            return 200, json.dumps({"invocations": calls}), "application/json"
        if len(parts) == 4 and parts[:2] == ["lambda", "functions"] and parts[3] == "invoke" and method == "POST":
            answer = self.validate_invoke(self.read_json(environ))
            qualifier = answer.pop("qualifier")
            with LOCK:
                STATE.invoke_answers.setdefault(function_name_of(parts[2]), {})[qualifier] = answer
            return 200, "{}", "application/json"
        if (
            len(parts) == 6
            and parts[:2] == ["lambda", "functions"]
            and parts[3] == "aliases"
            and parts[5] == "history"
            and method == "GET"
        ):
            with LOCK:
                history = [dict(h) for h in STATE.alias_history.get((function_name_of(parts[2]), parts[4]), [])]
            return 200, json.dumps({"history": history}), "application/json"
        if parts == ["cloudwatch", "reads"] and method == "GET":
            with LOCK:
                by_alarm = {k: v for k, v in STATE.alarm_reads.items() if k != "*"}
                total = STATE.alarm_reads.get("*", 0)
            return 200, json.dumps({"describe_alarms": total, "by_alarm": by_alarm}), "application/json"
        if len(parts) == 4 and parts[:2] == ["cloudwatch", "alarms"] and parts[3] == "reads" and method == "GET":
            with LOCK:
                count = STATE.alarm_reads.get(parts[2], 0)
            return 200, json.dumps({"describe_alarms": count}), "application/json"
        if len(parts) == 3 and parts[:2] == ["lambda", "functions"] and method == "POST":
            settings = self.validate_settings(self.read_json(environ))
            with LOCK:
                STATE.per_function.setdefault(function_name_of(parts[2]), {}).update(settings)
            return 200, "{}", "application/json"
        if parts[:1] == ["ecr"] and parts != ["ecr", "signing"]:
            # [E13]-[E17] retention's control endpoints (retention.py)
            try:
                handled = retention.control(
                    method or "", parts, self.read_json(environ) if method == "POST" else {}
                )
            except ValueError as e:
                raise BadRequest(str(e))
            if handled is not None:
                return handled[0], handled[1], "application/json"
        if parts == ["ecr", "signing"] and method == "POST":
            body = self.read_json(environ)
            unknown = set(body) - {"repository", "digest", "answers"}
            if unknown:
                raise BadRequest(f"unknown keys: {sorted(unknown)}")
            answers = body.get("answers")
            if not isinstance(body.get("repository"), str) or not DIGEST_RE.match(str(body.get("digest"))):
                raise BadRequest("repository (a name) and digest (sha256:<64 hex>) are required")
            if not isinstance(answers, list) or not answers or not all(isinstance(a, list) for a in answers):
                raise BadRequest("answers must be a non-empty list of lists of statuses")
            for answer in answers:
                for status in answer:
                    if not isinstance(status, dict) or status.get("status") not in SIGNING_STATUSES:
                        raise BadRequest("each status needs status IN_PROGRESS, COMPLETE or FAILED")
                    if set(status) - {"signingProfileArn", "status", "failureCode", "failureReason"}:
                        raise BadRequest("a status has signingProfileArn, status, failureCode, failureReason")
            with LOCK:
                STATE.signing[(body["repository"], body["digest"])] = [list(a) for a in answers]
            return 200, "{}", "application/json"
        if parts == ["blobs", "faults"] and method == "POST":
            body = self.read_json(environ)
            try:
                count, status = int(body.get("fail_next", 1)), int(body.get("status", 500))
            except (TypeError, ValueError):
                raise BadRequest("fail_next and status must be integers")
            if count < 0 or not 400 <= status <= 599:
                raise BadRequest("fail_next must be >= 0, status 400-599")
            digest = str(body.get("digest", "*"))
            with LOCK:
                STATE.blob_faults[digest] = [status] * count
            return 200, "{}", "application/json"
        if parts == ["blobs", "reads"] and method == "GET":
            with LOCK:
                gets = STATE.blob_gets
                left = sum(len(v) for v in STATE.blob_faults.values())
            return 200, json.dumps({"gets": gets, "faults_left": left}), "application/json"
        if len(parts) == 2 and parts[0] == "blobs" and method in ("GET", "HEAD"):
            with LOCK:
                STATE.blob_gets += 1
                where = STATE.blob_tokens.get(parts[1])
                digest = where[3] if where else None
                queue = STATE.blob_faults.get(digest) or STATE.blob_faults.get("*")
                fault = queue.pop(0) if queue else None
            if fault is not None:
                return fault, json.dumps({"message": "injected by the emulator"}), "application/json"
            data = blob_bytes(parts[1])
            if data is None:
                return 403, json.dumps({"message": "Access Denied"}), "application/json"
            return 200, data, "application/octet-stream"
        return 404, json.dumps({"message": f"no such control endpoint: {method} {path}"}), "application/json"


class BadRequest(Exception):
    pass


import lambda_versions  # noqa: E402  (next to this file) [L12] [L13]
import managed_instances  # noqa: E402  (next to this file) [L14]
import preview  # noqa: E402  (next to this file) [E16] [E17]
import retention  # noqa: E402  (next to this file) [E13]-[E15] [E18] [L11]

retention.install(sys.modules[__name__])
preview.install()
lambda_versions.install(sys.modules[__name__])
managed_instances.install(sys.modules[__name__])


def main() -> None:
    global PORT
    # Request logs would drown the test output.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1] else 0
    app = Emulator(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=MotoRequestHandler)
    PORT = server.server_address[1]
    create_role()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    print(PORT, flush=True)
    sys.stdin.read()
    server.shutdown()
    thread.join()


if __name__ == "__main__":
    main()
