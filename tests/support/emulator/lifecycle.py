"""Lifecycle policies, judged without I/O: the policy text checked as ECR
checks it [E16] and the user guide's evaluation rules applied to plain image
records [E17]. retention.py feeds it the repository's images and serves the
answers; nothing here knows moto's models or the clock.
"""

from __future__ import annotations

import json
import re
from typing import Any

from moto.ecr.exceptions import InvalidParameterException

DAY = 86400.0


# ---------------------------------------------------------------------------
# Lifecycle policy text [E16]
# ---------------------------------------------------------------------------

POLICY_ERROR = (
    "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: "
    "'Lifecycle policy validation failure: "
)
COUNT_TYPES = ("imageCountMoreThan", "sinceImagePushed", "sinceImagePulled", "sinceImageTransitioned")


def policy_error(detail: str) -> InvalidParameterException:
    return InvalidParameterException(POLICY_ERROR + detail + "'")


def parse_policy(text: Any) -> list[dict[str, Any]]:
    """[E16] The rules of a lifecycle policy, checked as the user guide's
    *Lifecycle policy properties* page states them (moto 5.2.5 knows neither
    `transition`, `storageClass`, `sinceImagePulled` nor
    `sinceImageTransitioned`, and checks none of the cross-field rules).
    Returns the rules sorted by rulePriority."""
    try:
        doc = json.loads(text)
    except (TypeError, ValueError):
        raise policy_error("Could not map policyString into LifecyclePolicy.")
    if not isinstance(doc, dict) or not isinstance(doc.get("rules"), list) or not doc["rules"]:
        raise policy_error('object has missing required properties (["rules"])')
    rules = doc["rules"]
    priorities: set[int] = set()
    for rule in rules:
        check_rule(rule)
        if rule["rulePriority"] in priorities:
            raise policy_error("The rulePriority values must be unique.")
        priorities.add(rule["rulePriority"])
    ordered = sorted(rules, key=lambda r: r["rulePriority"])
    for rule in ordered[:-1]:
        if rule["selection"]["tagStatus"] == "any":
            # "A rule with a tagStatus value of any must have the highest value for rulePriority"
            raise policy_error("A rule with tagStatus 'any' must have the highest rulePriority.")
    return ordered


def check_rule(rule: Any) -> None:
    if not isinstance(rule, dict):
        raise policy_error('instance type does not match any allowed primitive type (allowed: ["object"])')
    missing = {"rulePriority", "selection", "action"} - set(rule)
    if missing:
        raise policy_error(f"object has missing required properties ({json.dumps(sorted(missing))})")
    extra = set(rule) - {"rulePriority", "selection", "action", "description"}
    if extra:
        raise policy_error(f"object instance has properties which are not allowed by the schema: ({json.dumps(sorted(extra))})")
    if not isinstance(rule["rulePriority"], int) or isinstance(rule["rulePriority"], bool) or rule["rulePriority"] < 1:
        raise policy_error("rulePriority must be an integer of at least 1")
    action_type = rule["action"].get("type") if isinstance(rule["action"], dict) else None
    check_selection(rule["selection"], action_type)
    check_action(rule["action"], rule["selection"])


def check_selection(sel: Any, action_type: Any) -> None:
    if not isinstance(sel, dict):
        raise policy_error("selection must be an object")
    missing = {"tagStatus", "countType", "countNumber"} - set(sel)
    if missing:
        raise policy_error(f"object has missing required properties ({json.dumps(sorted(missing))})")
    allowed = {"tagStatus", "tagPrefixList", "tagPatternList", "countType", "countUnit", "countNumber", "storageClass"}
    extra = set(sel) - allowed
    if extra:
        raise policy_error(f"object instance has properties which are not allowed by the schema: ({json.dumps(sorted(extra))})")
    status = sel["tagStatus"]
    if status not in ("tagged", "untagged", "any"):
        raise policy_error(f'instance value ({status}) not found in enum :(possible values: ["any","tagged","untagged"])')
    prefixes, patterns = sel.get("tagPrefixList"), sel.get("tagPatternList")
    if prefixes is not None and patterns is not None:
        raise policy_error("tagPrefixList and tagPatternList cannot both be specified in a rule.")
    if status == "tagged" and not (prefixes or patterns):
        raise policy_error("tagPrefixList or tagPatternList is required when tagStatus is tagged.")
    if status != "tagged" and (prefixes is not None or patterns is not None):
        raise policy_error("tagPrefixList and tagPatternList can only be used when tagStatus is tagged.")
    for pattern in patterns or []:
        if not isinstance(pattern, str) or pattern.count("*") > 4:
            raise policy_error("A tag pattern may contain at most four wildcards (*).")
    if sel["countType"] not in COUNT_TYPES:
        raise policy_error("instance failed to match exactly one schema (matched 0 out of 2)")
    number = sel["countNumber"]
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        raise policy_error(f"numeric instance is lower than the required minimum (minimum: 1, found: {number})")
    if sel["countType"] == "imageCountMoreThan":
        if "countUnit" in sel:
            raise policy_error("countUnit can only be used with a countType of sinceImagePushed, sinceImagePulled or sinceImageTransitioned.")
    elif sel.get("countUnit") != "days":
        raise policy_error("countUnit 'days' is required with this countType.")
    storage = sel.get("storageClass", "standard")
    if storage not in ("standard", "archive"):
        raise policy_error(f'instance value ({storage}) not found in enum :(possible values: ["archive","standard"])')
    if sel["countType"] == "sinceImageTransitioned" and storage != "archive":
        raise policy_error("sinceImageTransitioned can only be used with storageClass archive.")
    if sel["countType"] == "sinceImagePulled" and action_type != "transition":
        # sinceImagePulled archives, it never expires: "it won't expire images"
        # (aws/containers-roadmap#921, answered by the archive launch, 2025-11).
        raise policy_error("sinceImagePulled can only be used with the transition action.")
    if sel["countType"] == "sinceImageTransitioned" and number < 90:
        # User guide, Archiving an image: "You cannot configure lifecycle policies
        # that delete images that have been in archive for less than 90 days."
        raise policy_error("Archived images can only be expired after at least 90 days in archive.")


def check_action(action: Any, sel: dict[str, Any]) -> None:
    if not isinstance(action, dict) or "type" not in action:
        raise policy_error('object has missing required properties (["type"])')
    extra = set(action) - {"type", "targetStorageClass"}
    if extra:
        raise policy_error(f"object instance has properties which are not allowed by the schema: ({json.dumps(sorted(extra))})")
    kind = action["type"]
    if kind == "expire":
        if "targetStorageClass" in action:
            raise policy_error("targetStorageClass can only be used with the transition action.")
    elif kind == "transition":
        if action.get("targetStorageClass") != "archive":
            raise policy_error("The transition action requires targetStorageClass 'archive'.")
        if sel.get("storageClass", "standard") != "standard":
            raise policy_error("Only images in the standard storage class can be transitioned.")
    else:
        raise policy_error(f'instance value ({kind}) not found in enum :(possible values: ["expire","transition"])')


# ---------------------------------------------------------------------------
# Lifecycle evaluation: pure [E17]
# ---------------------------------------------------------------------------


def tag_selected(sel: dict[str, Any], tags: list[str]) -> bool:
    """[E17] tagStatus and the tag lists: every entry of tagPrefixList /
    tagPatternList must match some tag of the image ("If you specify multiple
    tags, only the images with all specified tags are selected")."""
    status = sel["tagStatus"]
    if status == "untagged":
        return not tags
    if status == "any":
        return True
    if not tags:
        return False
    for prefix in sel.get("tagPrefixList") or []:
        if not any(t.startswith(prefix) for t in tags):
            return False
    for pattern in sel.get("tagPatternList") or []:
        regex = "^" + ".*".join(re.escape(p) for p in pattern.split("*")) + "$"
        if not any(re.match(regex, t) for t in tags):
            return False
    return True


def in_selection(rule: dict[str, Any], record: dict[str, Any]) -> bool:
    """The rule's selection without its count: tags and storage class."""
    sel = rule["selection"]
    if record["storage_class"] != sel.get("storageClass", "standard").upper():
        return False
    return tag_selected(sel, record["tags"])


def identified(rule: dict[str, Any], members: list[dict[str, Any]], now: float) -> list[dict[str, Any]]:
    """[E17] The images the rule's count marks, among those it selects.
    imageCountMoreThan: newest pushed first, the first countNumber kept.
    sinceImagePushed / sinceImagePulled (never pulled: pushed time) /
    sinceImageTransitioned: older than countNumber days."""
    sel = rule["selection"]
    number = sel["countNumber"]
    kind = sel["countType"]
    if kind == "imageCountMoreThan":
        newest_first = sorted(members, key=lambda r: (-r["pushed_at"], r["digest"]))
        return newest_first[number:]
    limit = now - number * DAY

    def when(r: dict[str, Any]) -> float | None:
        if kind == "sinceImagePushed":
            return r["pushed_at"]
        if kind == "sinceImagePulled":
            return r["pulled_at"] if r["pulled_at"] is not None else r["pushed_at"]
        return r["archived_at"]

    return [r for r in members if when(r) is not None and when(r) < limit]


def evaluate(rules: list[dict[str, Any]], records: list[dict[str, Any]], now: float) -> dict[str, dict[str, Any]]:
    """[E17] digest -> {"priority", "action", "target"} for each image a rule
    acts on, as the user guide's *Lifecycle policy evaluation rules* say:
    rules in rulePriority order, lowest first; an image is acted on by at most
    one rule; an image in a higher-priority rule's selection is never acted on
    by a lower-priority rule, though it still counts for that rule's
    imageCountMoreThan; an image an index lists is not acted on while that
    index is kept (here: unless every index listing it is expired by this
    same evaluation).

    records: {"digest", "tags", "pushed_at", "pulled_at", "archived_at",
    "storage_class" ("STANDARD" | "ARCHIVE"), "parents" [index digests]}."""
    claimed: set[str] = set()
    acted: dict[str, dict[str, Any]] = {}
    for rule in rules:
        members = [r for r in records if in_selection(rule, r)]
        for record in identified(rule, members, now):
            if record["digest"] in claimed or record["digest"] in acted:
                continue
            action = rule["action"]
            acted[record["digest"]] = {
                "priority": rule["rulePriority"],
                "action": "EXPIRE" if action["type"] == "expire" else "TRANSITION",
                "target": "ARCHIVE" if action["type"] == "transition" else None,
            }
        claimed.update(r["digest"] for r in members)
    # Children of a kept index stay: drop them until a fixed point (an index
    # kept keeps its children; a child index kept keeps its own).
    changed = True
    while changed:
        changed = False
        for record in records:
            verdict = acted.get(record["digest"])
            if verdict is None or not record["parents"]:
                continue
            kept_parent = any(
                acted.get(parent, {}).get("action") != "EXPIRE" for parent in record["parents"]
            )
            if kept_parent:
                del acted[record["digest"]]
                changed = True
    return acted
