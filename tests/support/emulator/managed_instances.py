"""Lambda Managed Instances: a function with a capacity provider, its
`$LATEST.PUBLISHED` version and how it is invoked [L14].

server.py calls `install(server_module)` once, after its own patches (they are
wrapped, not replaced). The row is described in FIDELITY.md, next to this file.

Sources: Lambda Developer Guide, *$LATEST.PUBLISHED version in Lambda Managed
Instances* (an unqualified invoke runs `$LATEST.PUBLISHED`; `--publish-to
LATEST_PUBLISHED` creates or republishes it); Lambda API Reference,
*CapacityProviderConfig*, *UpdateFunctionCode* (`PublishTo`); LocalStack's
Lambda provider (localstack/localstack, `services/lambda_/provider.py` and
`invocation/lambda_service.py`, 2026-03): `$LATEST` of such a function reads
`State: ActiveNonInvocable`; UpdateFunctionCode(`Publish`, `PublishTo:
LATEST_PUBLISHED`) answers `$LATEST.PUBLISHED` Active with `LastUpdateStatus:
InProgress`; the Invoke refusals and their wording.
"""

from __future__ import annotations

import copy
import re
import time
import uuid
from typing import Any

from moto.awslambda import models as lambda_models

S: Any = None
_installed: list[bool] = []

LATEST_PUBLISHED = "$LATEST.PUBLISHED"
# LocalStack's pattern for a capacity provider's ARN (provider.py,
# CAPACITY_PROVIDER_ARN_NAME).
CAPACITY_PROVIDER_ARN = re.compile(
    r"arn:aws[a-zA-Z-]*:lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}"
    r":capacity-provider:[a-zA-Z0-9-_]+$"
)
UPDATING_REASON = "The function is being updated."
UPDATING_REASON_CODE = "Updating"


def capacity_of(fn: Any) -> dict[str, Any] | None:
    return getattr(fn, "_emu_capacity", None)


def latest_published_of(latest: Any) -> Any | None:
    return getattr(latest, "_emu_latest_published", None)


def provision_seconds(fn: Any) -> float:
    return max(float(S.STATE.settings(fn.function_name).get("provision_seconds", 0.0)), 0.0)


def checked_capacity(config: Any) -> dict[str, Any]:
    """[L14] CapacityProviderConfig as LocalStack validates it, with its
    defaults (2.0 GiB per vCPU, 16 invocations per environment)."""
    inner = (config or {}).get("LambdaManagedInstancesCapacityProviderConfig")
    arn = (inner or {}).get("CapacityProviderArn")
    if not arn or not CAPACITY_PROVIDER_ARN.match(arn):
        raise S.ValidationError(
            f"1 validation error detected: Value '{arn}' at "
            "'capacityProviderConfig.lambdaManagedInstancesCapacityProviderConfig.capacityProviderArn' "
            "failed to satisfy constraint: Member must satisfy regular expression pattern: "
            + CAPACITY_PROVIDER_ARN.pattern
        )
    merged = {"ExecutionEnvironmentMemoryGiBPerVCpu": 2.0, "PerExecutionEnvironmentMaxConcurrency": 16}
    merged.update(copy.deepcopy(inner))
    return {"LambdaManagedInstancesCapacityProviderConfig": merged}


def republish(backend: Any, latest: Any) -> Any:
    """[L14] `$LATEST.PUBLISHED` anew: a copy of `$LATEST` with its own code,
    Active at once and InProgress until the update of `$LATEST` has ended and
    its instances are provisioned (`provision_seconds`), then the update's
    outcome."""
    emu_latest = S.timeline(latest)
    published = copy.copy(latest)
    published.code = copy.deepcopy(latest.code)
    published.version = LATEST_PUBLISHED
    published.function_arn = f"{S.unqualified_arn(backend, latest.function_name)}:{LATEST_PUBLISHED}"
    published._emu = {
        "pending_until": 0.0,
        "pending_outcome": S.SUCCESSFUL,
        "update_until": max(emu_latest["update_until"], time.monotonic() + provision_seconds(latest)),
        "outcome": emu_latest["outcome"],
        "rev_during": str(uuid.uuid4()),
        "rev_after": str(uuid.uuid4()),
    }
    latest._emu_latest_published = published
    return published


def install(server: Any) -> None:
    global S
    S = server
    if _installed:
        return
    _installed.append(True)
    function_class = lambda_models.LambdaFunction
    backend_class = lambda_models.LambdaBackend
    storage_class = lambda_models.LambdaStorage

    patched_init = function_class.__init__

    def function_init(self: Any, account_id: str, spec: dict[str, Any], *args: Any, **kw: Any) -> None:
        capacity = spec.get("CapacityProviderConfig")
        checked = checked_capacity(capacity) if capacity is not None else None
        patched_init(self, account_id, spec, *args, **kw)
        self._emu_capacity = checked

    function_class.__init__ = function_init

    patched_get_configuration = function_class.get_configuration

    def get_configuration(self: Any, on_create: bool = False) -> dict[str, Any]:
        """[L14] CapacityProviderConfig as stored; `$LATEST` of such a function
        is never invocable: `ActiveNonInvocable` where another would be Active."""
        config = patched_get_configuration(self, on_create)
        capacity = capacity_of(self)
        if capacity:
            config["CapacityProviderConfig"] = copy.deepcopy(capacity)
            if str(self.version) == "$LATEST" and config.get("State") == "Active":
                config["State"] = "ActiveNonInvocable"
            if str(self.version) == LATEST_PUBLISHED and config.get("LastUpdateStatus") == "InProgress":
                config["LastUpdateStatusReason"] = UPDATING_REASON
                config["LastUpdateStatusReasonCode"] = UPDATING_REASON_CODE
        return config

    function_class.get_configuration = get_configuration

    patched_qualified = storage_class.get_function_by_name_with_qualifier

    def get_function_by_name_with_qualifier(self: Any, name: str, qualifier: str | None = None) -> Any:
        """[L14] `$LATEST.PUBLISHED` names the copy kept beside `$LATEST`."""
        if ":" in name:
            name, qualifier = name.split(":", 1)
        if qualifier == LATEST_PUBLISHED:
            latest = self.get_function_by_name_forbid_qualifier(name)
            published = latest_published_of(latest)
            if published is None:
                raise S.ResourceNotFound(f"Function not found: {latest.function_arn}:{LATEST_PUBLISHED}")
            return published
        return patched_qualified(self, name, qualifier)

    storage_class.get_function_by_name_with_qualifier = get_function_by_name_with_qualifier

    patched_update_code = backend_class.update_function_code

    def update_function_code(self: Any, function_name: str, qualifier: str, body: dict[str, Any]) -> dict[str, Any]:
        """[L14] `PublishTo: LATEST_PUBLISHED` with `Publish: true`: `$LATEST` is
        updated as any function's is (L1), and `$LATEST.PUBLISHED` republished
        from it; the answer is `$LATEST.PUBLISHED`'s. A numbered version of a
        function with a capacity provider stays Pending until its instances are
        provisioned too."""
        publish_to = body.get("PublishTo")
        if publish_to is not None and publish_to != "LATEST_PUBLISHED":
            raise S.ValidationError(
                f"1 validation error detected: Value '{publish_to}' at 'publishTo' failed to satisfy "
                "constraint: Member must satisfy enum value set: [LATEST_PUBLISHED]"
            )
        with S.LOCK:
            if not (publish_to and body.get("Publish")):
                answer = patched_update_code(self, function_name, qualifier, body)
                version = str(answer.get("Version", "$LATEST"))
                if body.get("Publish") and version.isdigit():
                    latest = self.get_function(function_name, None)
                    if capacity_of(latest):
                        fn = S.function_at(self, latest.function_name, version)
                        emu = S.timeline(fn)
                        emu["pending_until"] = max(
                            emu["pending_until"], time.monotonic() + provision_seconds(latest)
                        )
                return answer
            unpublished = {k: v for k, v in body.items() if k not in ("Publish", "PublishTo")}
            answer = patched_update_code(self, function_name, qualifier, unpublished)
            if body.get("DryRun"):
                return answer
            latest = self.get_function(function_name, None)
            published = republish(self, latest)
            config = S._orig_get_configuration(published, False)
            S.overlay_status(config, published, at_start="updating")
            config["Version"] = LATEST_PUBLISHED
            config["FunctionArn"] = published.function_arn
            return get_configuration_tail(published, config)

    def get_configuration_tail(fn: Any, config: dict[str, Any]) -> dict[str, Any]:
        capacity = capacity_of(fn)
        if capacity:
            config["CapacityProviderConfig"] = copy.deepcopy(capacity)
        if config.get("LastUpdateStatus") == "InProgress":
            config["LastUpdateStatusReason"] = UPDATING_REASON
            config["LastUpdateStatusReasonCode"] = UPDATING_REASON_CODE
        return config

    backend_class.update_function_code = update_function_code

    patched_invoke = S.lambda_responses.LambdaResponse.invoke

    def responses_invoke(self: Any) -> Any:
        """[L14] An unqualified Invoke of a function with a capacity provider
        runs `$LATEST.PUBLISHED`; `$LATEST` is refused (400), and so is an
        unqualified Invoke before anything was published."""
        raw_name = S.unquote(self.path.split("?", 1)[0].rstrip("/").rsplit("/", 2)[-2])
        qualifier = self.querystring.get("Qualifier", [None])[0]
        tail = raw_name.split(":function:", 1)[-1]
        if qualifier is None and ":" in tail:
            qualifier = tail.split(":", 1)[1]
        with S.LOCK:
            latest = self.backend._lambdas.get_function_by_name_or_arn_forbid_qualifier(
                S.function_name_of(raw_name)
            )
            if capacity_of(latest) and qualifier in (None, "$LATEST"):
                published = latest_published_of(latest)
                if qualifier == "$LATEST" and published is not None:
                    raise S.InvalidParameterValue(
                        "Functions configured with capacity provider configuration can't be invoked with "
                        "$LATEST qualifier. To invoke this function, specify a published version qualifier "
                        "or $LATEST.PUBLISHED."
                    )
                if published is None:
                    raise S.LambdaError(
                        400,
                        "NoPublishedVersionException",
                        {
                            "Type": "User",
                            "message": "The function can't be invoked because no published version exists. "
                            "For functions with capacity provider configuration, either publish a version to "
                            "$LATEST.PUBLISHED, or specify a published version qualifier.",
                        },
                    )
                self.querystring["Qualifier"] = [LATEST_PUBLISHED]
        return patched_invoke(self)

    S.lambda_responses.LambdaResponse.invoke = responses_invoke

    patched_function_at = S.function_at

    def function_at(backend: Any, function_name: str, version: str) -> Any:
        if version == LATEST_PUBLISHED:
            latest = backend._lambdas.get_function_by_name_or_arn_forbid_qualifier(function_name)
            published = latest_published_of(latest)
            if published is None:
                raise S.ResourceNotFound(f"Function not found: {latest.function_arn}:{LATEST_PUBLISHED}")
            return published
        return patched_function_at(backend, function_name, version)

    S.function_at = function_at
