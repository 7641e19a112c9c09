"""Lifecycle policies and their preview for the emulator [E16] [E17]:
PutLifecyclePolicy checked as ECR checks it, StartLifecyclePolicyPreview /
GetLifecyclePolicyPreview answered from lifecycle.py's pure evaluation of the
repository's images. State, settings and counts live in retention.py.

server.py calls `install()` once, after retention.install().
"""

from __future__ import annotations

import copy
import time
from typing import Any

from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.ecr import responses as ecr_responses
from moto.ecr.exceptions import InvalidParameterException, LifecyclePolicyNotFoundException

import retention  # noqa: E402  (next to this file)
from lifecycle import evaluate, parse_policy  # noqa: E402  (next to this file)
from retention import as_datetime, pushed_at, storage_class_of

ECRResponse = ecr_responses.ECRResponse


class LifecyclePolicyPreviewNotFoundException(ServiceException):
    code = "LifecyclePolicyPreviewNotFoundException"


class LifecyclePolicyPreviewInProgressException(ServiceException):
    code = "LifecyclePolicyPreviewInProgressException"


# ---------------------------------------------------------------------------
# Lifecycle preview [E17]
# ---------------------------------------------------------------------------


def records_of(repository: Any) -> list[dict[str, Any]]:
    """The repository's images as evaluate() reads them, with the index
    digests that list each one."""
    parents: dict[str, list[str]] = {}
    for image in repository.images:
        manifest = retention.S.parsed_manifest(image) or {}
        for entry in manifest.get("manifests") or []:
            if isinstance(entry, dict) and entry.get("digest"):
                parents.setdefault(entry["digest"], []).append(image.get_image_digest())
    records = []
    for image in repository.images:
        digest = image.get_image_digest()
        records.append(
            {
                "digest": digest,
                "tags": list(image.image_tags),
                "pushed_at": pushed_at(image),
                "pulled_at": getattr(image, "_emu_pulled_at", None),
                "archived_at": getattr(image, "_emu_archived_at", None) if getattr(image, "_emu_archived", False) else None,
                "storage_class": storage_class_of(image),
                "parents": parents.get(digest, []),
            }
        )
    return records


def preview_key(self: ECRResponse, repository: Any) -> tuple[str, str, str]:
    return (repository.registry_id, self.region, repository.name)


def responses_start_lifecycle_policy_preview(self: ECRResponse) -> ActionResult:
    """[E17] Evaluates the repository's policy (or lifecyclePolicyText) now,
    acting on nothing; the answer says IN_PROGRESS."""
    repository_name = self._get_param("repositoryName")
    registry_id = self._get_param("registryId")
    text = self._get_param("lifecyclePolicyText")
    with retention.S.LOCK:
        retention.RSTATE.count("StartLifecyclePolicyPreview", repository_name)
        repository = retention.S.get_repository(self.ecr_backend, repository_name, registry_id)
        if text is None:
            text = repository.lifecycle_policy
            if not text:
                raise LifecyclePolicyNotFoundException(repository.name, repository.registry_id)
        rules = parse_policy(text)
        key = preview_key(self, repository)
        current = retention.RSTATE.previews.get(key)
        if current is not None and current["in_progress_reads"] > 0:
            raise LifecyclePolicyPreviewInProgressException(
                "The previous lifecycle policy preview request has not completed. Wait and try again."
            )
        records = records_of(repository)
        verdicts = evaluate(rules, records, time.time())
        results = []
        for record in sorted(records, key=lambda r: (r["pushed_at"], r["digest"])):
            verdict = verdicts.get(record["digest"])
            if verdict is None:
                continue
            action: dict[str, Any] = {"type": verdict["action"]}
            if verdict["target"]:
                action["targetStorageClass"] = verdict["target"]
            results.append(
                {
                    "imageTags": record["tags"],
                    "imageDigest": record["digest"],
                    "imagePushedAt": as_datetime(record["pushed_at"]),
                    "action": action,
                    "appliedRulePriority": verdict["priority"],
                    "storageClass": record["storage_class"],
                }
            )
        retention.RSTATE.previews[key] = {
            "text": text,
            "results": results,
            "in_progress_reads": int(retention.RSTATE.settings["preview_in_progress_reads"]),
        }
        return ActionResult(
            {
                "registryId": repository.registry_id,
                "repositoryName": repository.name,
                "lifecyclePolicyText": text,
                "status": "IN_PROGRESS",
            }
        )


def responses_get_lifecycle_policy_preview(self: ECRResponse) -> ActionResult:
    """[E17] IN_PROGRESS for the first `preview_in_progress_reads` reads, then
    COMPLETE with previewResults paged by maxResults (1-100, default 100) and
    nextToken, filtered by imageIds / filter.tagStatus, and the summary."""
    repository_name = self._get_param("repositoryName")
    registry_id = self._get_param("registryId")
    image_ids = self._get_param("imageIds")
    tag_status = (self._get_param("filter") or {}).get("tagStatus", "ANY")
    max_results = retention.S.check_max_results(self._get_param("maxResults"), 1, 100)
    next_token = self._get_param("nextToken")
    with retention.S.LOCK:
        retention.RSTATE.count("GetLifecyclePolicyPreview", repository_name)
        repository = retention.S.get_repository(self.ecr_backend, repository_name, registry_id)
        if image_ids and (max_results is not None or next_token):
            raise InvalidParameterException(
                "Invalid parameter at 'maxResults' failed to satisfy constraint: "
                "'maxResults' and 'nextToken' cannot be used with 'imageIds'"
            )
        preview = retention.RSTATE.previews.get(preview_key(self, repository))
        if preview is None:
            # The service model's description of the error (its message: uncertain).
            raise LifecyclePolicyPreviewNotFoundException("There is no dry run for this repository.")
        answer: dict[str, Any] = {
            "registryId": repository.registry_id,
            "repositoryName": repository.name,
            "lifecyclePolicyText": preview["text"],
        }
        if preview["in_progress_reads"] > 0:
            preview["in_progress_reads"] -= 1
            answer["status"] = "IN_PROGRESS"
            return ActionResult(answer)
        results = list(preview["results"])
    if tag_status == "TAGGED":
        results = [r for r in results if r["imageTags"]]
    elif tag_status == "UNTAGGED":
        results = [r for r in results if not r["imageTags"]]
    if image_ids:
        wanted = [(i.get("imageDigest"), i.get("imageTag")) for i in image_ids]
        results = [
            r for r in results
            if any((not d or d == r["imageDigest"]) and (not t or t in r["imageTags"]) and (d or t) for d, t in wanted)
        ]
    else:
        start = retention.S.decode_token(next_token, "lifecycle_preview")
        limit = max_results or 100
        if start + limit < len(results):
            answer["nextToken"] = retention.S.encode_token(start + limit, "lifecycle_preview")
        results = results[start : start + limit]
    expiring = sum(1 for r in preview["results"] if r["action"]["type"] == "EXPIRE")
    transitioning = sum(1 for r in preview["results"] if r["action"]["type"] == "TRANSITION")
    summary: dict[str, Any] = {"expiringImageTotalCount": expiring}
    if transitioning:
        summary["transitioningImageTotalCounts"] = [
            {"targetStorageClass": "ARCHIVE", "imageTotalCount": transitioning}
        ]
    answer.update({"status": "COMPLETE", "previewResults": [copy.deepcopy(r) for r in results], "summary": summary})
    return ActionResult(answer)


def responses_put_lifecycle_policy(self: ECRResponse) -> ActionResult:
    """[E16] PutLifecyclePolicy checks the policy as ECR does (parse_policy)
    and stores the text exactly as sent."""
    repository_name = self._get_param("repositoryName")
    registry_id = self._get_param("registryId")
    text = self._get_param("lifecyclePolicyText")
    with retention.S.LOCK:
        retention.RSTATE.count("PutLifecyclePolicy", repository_name)
        repository = retention.S.get_repository(self.ecr_backend, repository_name, registry_id)
        parse_policy(text)
        repository.lifecycle_policy = text
        return ActionResult(
            {"registryId": repository.registry_id, "repositoryName": repository.name, "lifecyclePolicyText": text}
        )


def install() -> None:
    ECRResponse.start_lifecycle_policy_preview = responses_start_lifecycle_policy_preview
    ECRResponse.get_lifecycle_policy_preview = responses_get_lifecycle_policy_preview
    ECRResponse.put_lifecycle_policy = responses_put_lifecycle_policy
