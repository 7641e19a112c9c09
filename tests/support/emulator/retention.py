"""ECR retention for the emulator: image status and archive [E13] [E14] [E15],
retagging and deletion [E18], and what Lambda shows for a version whose image
is gone or archived [L11]; the state, settings and call counts that
preview.py (lifecycle policies and their preview [E16] [E17]) shares.

server.py calls `install(server_module)` once, after its own patches, and
`reset()` from `POST /_emulator/reset`; its control API hands `/_emulator/ecr/...`
requests it does not know to `control()`. Every row named here is described in
FIDELITY.md, next to this file.
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timezone
from typing import Any

from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.ecr import models as ecr_models
from moto.ecr import responses as ecr_responses
from moto.ecr.exceptions import InvalidParameterException

ECRBackend = ecr_models.ECRBackend
ECRResponse = ecr_responses.ECRResponse

# Set by install(): the server module (its LOCK, helpers and exceptions).
S: Any = None


class ImageStorageClassUpdateNotSupportedException(ServiceException):
    code = "ImageStorageClassUpdateNotSupportedException"


# The service model's description of the error; the status is ours.
NOT_SUPPORTED = "The requested image storage class update is not supported."


class ImageNotFoundException(ServiceException):
    code = "ImageNotFoundException"


# ---------------------------------------------------------------------------
# State driven by the control API
# ---------------------------------------------------------------------------

CALL_KEYS = (
    "DescribeImages",
    "BatchGetImage",
    "PutImage",
    "BatchDeleteImage",
    "UpdateImageStorageClass",
    "GetLifecyclePolicy",
    "PutLifecyclePolicy",
    "DeleteLifecyclePolicy",
    "StartLifecyclePolicyPreview",
    "GetLifecyclePolicyPreview",
)


def initial_settings() -> dict[str, Any]:
    return {
        # [E14] How long a restore stays ACTIVATING.
        "restore_seconds": float(os.environ.get("EMULATOR_RESTORE_SECONDS", "2.0")),
        # [E17] How many GetLifecyclePolicyPreview reads answer IN_PROGRESS first.
        "preview_in_progress_reads": 1,
        # [L11] Whether Lambda notices at once that a function's image is gone.
        "lambda_notices_missing_images": False,
    }


class RetentionState:
    def __init__(self) -> None:
        self.settings = initial_settings()
        # operation -> count, and repository -> operation -> count
        self.calls: dict[str, int] = {key: 0 for key in CALL_KEYS}
        self.calls_by_repository: dict[str, dict[str, int]] = {}
        # (account, region, repository) -> the last preview started [E17]
        self.previews: dict[tuple[str, str, str], dict[str, Any]] = {}

    def count(self, operation: str, repository: str | None) -> None:
        self.calls[operation] = self.calls.get(operation, 0) + 1
        if repository:
            per = self.calls_by_repository.setdefault(repository, {key: 0 for key in CALL_KEYS})
            per[operation] = per.get(operation, 0) + 1


RSTATE = RetentionState()


def reset() -> None:
    global RSTATE
    RSTATE = RetentionState()


# ---------------------------------------------------------------------------
# Image status [E13] [E14]
# ---------------------------------------------------------------------------
#
# Each moto Image may carry:
#   _emu_archived       True while the image is in the archive storage class
#   _emu_archived_at    wall clock of the last archive                  (lastArchivedAt)
#   _emu_activated_at   wall clock of the last restore's end            (lastActivatedAt)
#   _emu_restore_until  monotonic deadline of a restore in progress     (ACTIVATING)
#   _emu_restore_end    wall clock at which that restore ends
#   _emu_pulled_at      wall clock of the last recorded pull            (lastRecordedPullTime)


def status_of(image: Any) -> str:
    """ACTIVE | ARCHIVED | ACTIVATING, settled on the monotonic clock at each
    read (a restore whose time is up becomes ACTIVE then)."""
    if not getattr(image, "_emu_archived", False):
        return "ACTIVE"
    until = getattr(image, "_emu_restore_until", None)
    if until is None:
        return "ARCHIVED"
    if time.monotonic() < until:
        return "ACTIVATING"
    image._emu_archived = False
    image._emu_activated_at = image._emu_restore_end
    image._emu_restore_until = None
    return "ACTIVE"


def storage_class_of(image: Any) -> str:
    """STANDARD | ARCHIVE: a restoring image stays in archive until it is done
    (user guide, Restoring an image)."""
    return "STANDARD" if status_of(image) == "ACTIVE" else "ARCHIVE"


def archive(image: Any) -> None:
    image._emu_archived = True
    image._emu_archived_at = time.time()
    image._emu_restore_until = None


def start_restore(image: Any) -> None:
    seconds = max(float(RSTATE.settings["restore_seconds"]), 0.0)
    image._emu_restore_until = time.monotonic() + seconds
    image._emu_restore_end = time.time() + seconds


def restore_now(image: Any) -> None:
    """[E14] A push of an archived image restores it at once (user guide,
    Restoring an image)."""
    if getattr(image, "_emu_archived", False):
        image._emu_archived = False
        image._emu_activated_at = time.time()
        image._emu_restore_until = None


def record_pull(image: Any) -> None:
    """[E13] lastRecordedPullTime: set when Lambda resolves the image and when
    BatchGetImage returns its manifest ("When an image is pulled, the
    BatchGetImage API is called once to retrieve the image manifest")."""
    image._emu_pulled_at = time.time()


def pushed_at(image: Any) -> float:
    return float(image.image_pushed_at)


def as_datetime(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, tz=timezone.utc)


def decorate(dto: Any, image: Any) -> None:
    """[E13] The DescribeImages fields moto does not know."""
    with S.LOCK:  # status_of settles a finished restore
        decorate_locked(dto, image)


def decorate_locked(dto: Any, image: Any) -> None:
    dto.imageStatus = status_of(image)
    dto.lastArchivedAt = as_datetime(getattr(image, "_emu_archived_at", None))
    dto.lastActivatedAt = as_datetime(getattr(image, "_emu_activated_at", None))
    dto.lastRecordedPullTime = as_datetime(getattr(image, "_emu_pulled_at", None))


IMAGE_STATUS_FILTERS = ("ACTIVE", "ARCHIVED", "ACTIVATING", "ANY")


def status_filter(flt: dict[str, Any] | None) -> str:
    """[E13] filter.imageStatus; "If not specified, only images with ACTIVE
    status are returned" (API reference, DescribeImagesFilter)."""
    wanted = (flt or {}).get("imageStatus") or "ACTIVE"
    if wanted not in IMAGE_STATUS_FILTERS:
        raise S.ValidationException(
            f"1 validation error detected: Value '{wanted}' at 'filter.imageStatus' failed to "
            "satisfy constraint: Member must satisfy enum value set: [ACTIVE, ARCHIVED, ACTIVATING, ANY]"
        )
    return wanted


def passes(image: Any, wanted: str) -> bool:
    return wanted == "ANY" or status_of(image) == wanted


def find_image(repository: Any, image_id: dict[str, Any]) -> Any:
    """By digest and/or tag (both must agree); ImageNotFoundException as ECR words it."""
    tag = image_id.get("imageTag")
    digest = image_id.get("imageDigest")
    for image in repository.images:
        if (not tag or tag in image.image_tags) and (not digest or digest == image.get_image_digest()):
            if tag or digest:
                return image
    raise image_not_found(repository, {k: v for k, v in (("imageDigest", digest), ("imageTag", tag)) if v})


def describe_images_by_id(repository: Any, image_ids: list[dict[str, Any]], flt: dict[str, Any] | None) -> list[Any]:
    """[E13] DescribeImages with imageIds: one missing image fails the whole
    call with ImageNotFoundException (API reference, DescribeImages errors; moto
    does the same). The imageStatus filter applies here too (uncertain): an
    archived image asked for without filter {imageStatus: ANY|ARCHIVED} is not
    found. Asked order kept, duplicates answered once."""
    wanted = status_filter(flt)
    found: list[Any] = []
    for image_id in image_ids:
        image = find_image(repository, image_id)
        if not passes(image, wanted):
            raise image_not_found(repository, image_id)
        if image not in found:
            found.append(image)
    return found


def image_not_found(repository: Any, image_id: dict[str, Any]) -> ImageNotFoundException:
    shown = json.dumps(image_id, sort_keys=True)
    return ImageNotFoundException(
        f"The image with imageId {shown} does not exist within the repository with name "
        f"'{repository.name}' in the registry with id '{repository.registry_id}'"
    )


# ---------------------------------------------------------------------------
# UpdateImageStorageClass [E14]
# ---------------------------------------------------------------------------


def responses_update_image_storage_class(self: ECRResponse) -> ActionResult:
    """[E14] ARCHIVE: ARCHIVED at once. STANDARD on an ARCHIVED image:
    ACTIVATING for restore_seconds, then ACTIVE. Archiving an archived (or
    restoring) image and restoring an active one are refused with
    ImageStorageClassUpdateNotSupportedException (uncertain); STANDARD again
    while ACTIVATING answers ACTIVATING (the restore goes on; uncertain)."""
    repository_name = self._get_param("repositoryName")
    registry_id = self._get_param("registryId")
    image_id = self._get_param("imageId") or {}
    target = self._get_param("targetStorageClass")
    with S.LOCK:
        RSTATE.count("UpdateImageStorageClass", repository_name)
        repository = S.get_repository(self.ecr_backend, repository_name, registry_id)
        if target not in ("ARCHIVE", "STANDARD"):
            raise S.ValidationException(
                f"1 validation error detected: Value '{target}' at 'targetStorageClass' failed to "
                "satisfy constraint: Member must satisfy enum value set: [STANDARD, ARCHIVE]"
            )
        if not image_id.get("imageDigest") and not image_id.get("imageTag"):
            raise InvalidParameterException(
                "Invalid parameter at 'imageId' failed to satisfy constraint: "
                "'both tag and digest cannot be null'"
            )
        image = find_image(repository, image_id)
        status = status_of(image)
        if target == "ARCHIVE":
            if status != "ACTIVE":
                raise ImageStorageClassUpdateNotSupportedException(NOT_SUPPORTED + f" (imageStatus {status})")
            archive(image)
        else:
            if status == "ACTIVE":
                raise ImageStorageClassUpdateNotSupportedException(NOT_SUPPORTED + " (imageStatus ACTIVE)")
            if status == "ARCHIVED":
                start_restore(image)
        answer_id = {"imageDigest": image.get_image_digest()}
        if image_id.get("imageTag"):
            answer_id["imageTag"] = image_id["imageTag"]
        return ActionResult(
            {
                "registryId": repository.registry_id,
                "repositoryName": repository.name,
                "imageId": answer_id,
                "imageStatus": status_of(image),
            }
        )


# ---------------------------------------------------------------------------
# Hooks into server.py's ECR and Lambda patches
# ---------------------------------------------------------------------------


def describe_images(backend: Any, repository_name: str, registry_id: str | None,
                    image_ids: list[dict[str, Any]] | None, flt: dict[str, Any] | None) -> list[Any]:
    """[E13] The images DescribeImages answers for, before paging (E9)."""
    repository = S.get_repository(backend, repository_name, registry_id)
    if image_ids:
        return describe_images_by_id(repository, image_ids, flt)
    wanted = status_filter(flt)
    return [i for i in repository.images if passes(i, wanted)]


def list_images_filter(images: list[Any], flt: dict[str, Any] | None) -> list[Any]:
    """[E13] ListImages takes the same imageStatus filter (default ACTIVE)."""
    wanted = status_filter(flt)
    return [i for i in images if passes(i, wanted)]


def lambda_resolves(image: Any, uri: str) -> None:
    """[E15] [E13] Lambda pulls the image it resolves: an archived (or
    restoring) image cannot be pulled, so it does not exist for Lambda
    (uncertain wording: L5's "does not exist"); a pull is recorded."""
    if status_of(image) != "ACTIVE":
        raise S.InvalidParameterValue(f"Source image {uri} does not exist. Provide a valid source image.")
    record_pull(image)


# [L11] What Lambda shows for a function whose image is gone --------------------

IMAGE_GONE_REASON = "The function's image has been deleted or is no longer accessible."
DELETED_IMAGE_MESSAGE = "The function is trying to use a deleted image."


def image_gone(fn: Any) -> str | None:
    """"deleted" / "archived" when the image this function (or version) runs
    by digest is no longer pullable from its repository; None otherwise."""
    resolved = (getattr(fn, "code", None) or {}).get("ResolvedImageUri")
    if getattr(fn, "package_type", None) != "Image" or not resolved:
        return None
    try:
        account, region, repo_name, _tag, digest = S.parse_image_uri(resolved)
    except Exception:
        return None
    repository = ecr_models.ecr_backends[account][region].repositories.get(repo_name)
    image = None
    if repository is not None:
        image = next((i for i in repository.images if i.get_image_digest() == digest), None)
    if image is None:
        return "deleted"
    return None if status_of(image) == "ACTIVE" else "archived"


def overlay_image_gone(config: dict[str, Any], fn: Any) -> None:
    """[L11] With lambda_notices_missing_images, a settled function or version
    whose image is deleted or archived reads State Failed, StateReasonCode
    ImageDeleted (both cases: ECR answers a pull of either with 404)."""
    if not RSTATE.settings["lambda_notices_missing_images"] or config.get("State") == "Pending":
        return
    if image_gone(fn) is None:
        return
    config["State"] = "Failed"
    config["StateReasonCode"] = "ImageDeleted"
    config["StateReason"] = IMAGE_GONE_REASON


_wrapped: set[str] = set()


def install(server: Any) -> None:
    """Patch moto's ECR once; `server` is the launcher module."""
    global S
    S = server
    if _wrapped:
        return
    _wrapped.add("done")

    orig_batch_get = ECRBackend.batch_get_image

    def batch_get_image(self: Any, repository_name: str, registry_id: str | None = None,
                        image_ids: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """[E13] A manifest returned is a pull (lastRecordedPullTime).
        [E15] An ARCHIVED or ACTIVATING image cannot be pulled ("Requests to
        pull the archived image will fail with a 404 error", user guide,
        Archiving an image): BatchGetImage answers it as a failure
        ImageNotFound (uncertain code and reason)."""
        with S.LOCK:
            response = orig_batch_get(self, repository_name, registry_id, image_ids)
            repository = S.get_repository(self, repository_name, registry_id)
            by_digest = {i.get_image_digest(): i for i in repository.images}
            kept = []
            for entry in response["images"]:
                image = by_digest.get(entry["imageId"]["imageDigest"])
                if image is not None and status_of(image) != "ACTIVE":
                    # Echo the imageId as asked: the digest only if it was asked for.
                    digests_asked = {i.get("imageDigest") for i in image_ids or []}
                    asked = {k: v for k, v in entry["imageId"].items()
                             if k != "imageDigest" or v in digests_asked}
                    response["failures"].append(
                        {"imageId": asked, "failureCode": "ImageNotFound",
                         "failureReason": f"Requested image not found (imageStatus {status_of(image)})"}
                    )
                else:
                    if image is not None:
                        record_pull(image)  # [E13] a manifest read is a pull
                    kept.append(entry)
            response["images"] = kept
            return response

    ECRBackend.batch_get_image = batch_get_image

    orig_put_image = ECRBackend.put_image

    def put_image(self: Any, repository_name: str, image_manifest: str, image_tag: str | None,
                  image_manifest_mediatype: str | None = None, digest: str | None = None) -> Any:
        """[E14] Pushing an archived image again restores it at once."""
        with S.LOCK:
            try:
                image = orig_put_image(self, repository_name, image_manifest, image_tag,
                                       image_manifest_mediatype, digest)
            except S.ImageAlreadyExistsException:
                repository = S.get_repository(self, repository_name)
                for candidate in repository.images:
                    if candidate.image_manifest == image_manifest:
                        restore_now(candidate)
                raise
            restore_now(image)
            return image

    ECRBackend.put_image = put_image

    function_class = S.LambdaFunction
    patched_get_configuration = function_class.get_configuration

    def get_configuration(self: Any, on_create: bool = False) -> dict[str, Any]:
        config = patched_get_configuration(self, on_create)
        with S.LOCK:
            overlay_image_gone(config, self)
        return config

    function_class.get_configuration = get_configuration

    patched_update_code = S.LambdaBackend.update_function_code

    def update_function_code(self: Any, function_name: str, qualifier: str, body: dict[str, Any]) -> Any:
        """[L11] An update of a function whose current image is gone is refused
        (aws-actions/aws-lambda-deploy#68), when Lambda is set to notice it."""
        with S.LOCK:
            fn = self.get_function(function_name, qualifier)
            if RSTATE.settings["lambda_notices_missing_images"] and image_gone(fn) is not None:
                raise S.InvalidParameterValue(DELETED_IMAGE_MESSAGE)
            return patched_update_code(self, function_name, qualifier, body)

    S.LambdaBackend.update_function_code = update_function_code

    def counted(method_name: str, operation: str) -> None:
        original = getattr(ECRResponse, method_name)

        def wrapper(self: ECRResponse) -> Any:
            with S.LOCK:
                RSTATE.count(operation, self._get_param("repositoryName"))
            return original(self)

        setattr(ECRResponse, method_name, wrapper)

    counted("describe_images", "DescribeImages")
    counted("batch_get_image", "BatchGetImage")
    counted("put_image", "PutImage")
    counted("batch_delete_image", "BatchDeleteImage")
    counted("get_lifecycle_policy", "GetLifecyclePolicy")
    counted("delete_lifecycle_policy", "DeleteLifecyclePolicy")
    ECRResponse.update_image_storage_class = responses_update_image_storage_class


# ---------------------------------------------------------------------------
# Control API: /_emulator/ecr/...
# ---------------------------------------------------------------------------

SETTING_TYPES = {"restore_seconds": float, "preview_in_progress_reads": int, "lambda_notices_missing_images": bool}
TIME_KEYS = {"pushed_at", "pulled_at", "archived_at"}


def control(method: str, parts: list[str], body: dict[str, Any]) -> tuple[int, str] | None:
    """Handles /_emulator/ecr/{settings,images/pushed-at,images/times,calls};
    None for any other path. Raises ValueError for a bad body (-> 400)."""
    if parts == ["ecr", "settings"] and method == "POST":
        unknown = set(body) - set(SETTING_TYPES)
        if unknown:
            raise ValueError(f"unknown settings: {sorted(unknown)}")
        out: dict[str, Any] = {}
        for key, kind in SETTING_TYPES.items():
            if key in body:
                value = body[key]
                if kind is bool:
                    if not isinstance(value, bool):
                        raise ValueError(f"{key} must be true or false")
                    out[key] = value
                    continue
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                    raise ValueError(f"{key} must be a non-negative number")
                if kind is int and int(value) != value:
                    raise ValueError(f"{key} must be an integer")
                out[key] = kind(value)
        with S.LOCK:
            RSTATE.settings.update(out)
        return 200, "{}"
    if parts in (["ecr", "images", "pushed-at"], ["ecr", "images", "times"]) and method == "POST":
        set_times(body)
        return 200, "{}"
    if parts == ["ecr", "calls"] and method == "GET":
        with S.LOCK:
            answer = dict(RSTATE.calls)
            answer["by_repository"] = {k: dict(v) for k, v in RSTATE.calls_by_repository.items()}
        return 200, json.dumps(answer)
    return None


def set_times(body: dict[str, Any]) -> None:
    """{"repository", "digest", "pushed_at"?, "pulled_at"?, "archived_at"?}:
    epoch seconds (pulled_at may be null: never pulled). archived_at applies
    to an image that is archived (its lastArchivedAt)."""
    unknown = set(body) - TIME_KEYS - {"repository", "digest", "region", "account"}
    if unknown:
        raise ValueError(f"unknown keys: {sorted(unknown)}")
    if not isinstance(body.get("repository"), str) or not S.DIGEST_RE.match(str(body.get("digest"))):
        raise ValueError("repository (a name) and digest (sha256:<64 hex>) are required")
    if not TIME_KEYS & set(body):
        raise ValueError("give at least one of pushed_at, pulled_at, archived_at")
    for key in TIME_KEYS & set(body):
        value = body[key]
        if value is None and key == "pulled_at":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{key} must be epoch seconds")
    account = str(body.get("account") or S.DEFAULT_ACCOUNT_ID)
    region = str(body.get("region") or "us-east-1")
    with S.LOCK:
        repository = ecr_models.ecr_backends[account][region].repositories.get(body["repository"])
        if repository is None:
            raise ValueError(f"no repository {body['repository']}")
        image = next((i for i in repository.images if i.get_image_digest() == body["digest"]), None)
        if image is None:
            raise ValueError(f"no image {body['digest']} in {body['repository']}")
        if "pushed_at" in body:
            # moto keeps whole seconds; ECR answers fractions, keep what is given.
            image.image_pushed_at = body["pushed_at"]
        if "pulled_at" in body:
            image._emu_pulled_at = body["pulled_at"]
        if "archived_at" in body:
            image._emu_archived_at = body["archived_at"]
