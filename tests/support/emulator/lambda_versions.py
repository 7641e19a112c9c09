"""Lambda versions for issue 21's `prune`: deleting a published version [L12]
and a function's `DurableConfig` [L13].

server.py calls `install(server_module)` once, after its own patches (they are
wrapped, not replaced). Each row is described in FIDELITY.md, next to this file.
"""

from __future__ import annotations

import copy
from typing import Any

from moto.awslambda import models as lambda_models

S: Any = None
_installed: list[bool] = []

LATEST_NOT_DELETABLE = "$LATEST version cannot be deleted without deleting the function."


def referencing_aliases(backend: Any, function_name: str, version: str) -> list[str]:
    """Aliases that route to `version`, through FunctionVersion or
    AdditionalVersionWeights, by name."""
    aliases = backend._lambdas._get_function_aliases(function_name)
    names = []
    for alias in aliases.values():
        weights = (alias.routing_config or {}).get("AdditionalVersionWeights") or {}
        if str(alias.function_version) == version or version in {str(k) for k in weights}:
            names.append(alias.name)
    return sorted(names)


def qualifier_of(name_or_arn: str, qualifier: str | None) -> str | None:
    tail = name_or_arn.split(":function:", 1)[-1]
    if ":" in tail:
        return tail.split(":", 1)[1]
    return qualifier


def install(server: Any) -> None:
    global S
    S = server
    if _installed:
        return
    _installed.append(True)
    storage = lambda_models.LambdaStorage
    backend_class = lambda_models.LambdaBackend
    function_class = lambda_models.LambdaFunction

    patched_publish = storage.publish_version

    def publish_version(self: Any, name_or_arn: str, description: str = "") -> Any:
        """[L12] Version numbers are never reused: after a deletion the next
        version is one past the highest ever published (moto counts the versions
        left, reusing a deleted number or even one still in use)."""
        latest = self.get_function_by_name_or_arn_forbid_qualifier(name_or_arn)
        versions = self._functions[latest.function_name]["versions"]
        before = len(versions)
        highest = max([int(v.version) for v in versions] + [getattr(latest, "_emu_highest_version", 0)])
        existing = {v.function_arn: v for v in versions}
        fn = patched_publish(self, name_or_arn, description)
        if fn is not None and len(versions) > before:
            if int(fn.version) <= highest:
                old_arn = fn.function_arn
                fn.set_version(highest + 1)
                if old_arn in existing:
                    self._arns[old_arn] = existing[old_arn]
                else:
                    self._arns.pop(old_arn, None)
                self._arns[fn.function_arn] = fn
            latest._emu_highest_version = int(fn.version)
        return fn

    storage.publish_version = publish_version

    patched_delete = backend_class.delete_function

    def delete_function(self: Any, function_name: str, qualifier: str | None = None) -> None:
        """[L12] DeleteFunction with a Qualifier deletes that version only:
        `$LATEST` is refused (400), so is a version an alias routes to (409);
        the version's ARN no longer resolves."""
        with S.LOCK:
            wanted = qualifier_of(function_name, qualifier)
            if wanted is None:
                return patched_delete(self, function_name, qualifier)
            if wanted == "$LATEST":
                raise S.InvalidParameterValue(LATEST_NOT_DELETABLE)
            latest = self._lambdas.get_function_by_name_or_arn_forbid_qualifier(S.function_name_of(function_name))
            version = S.function_at(self, latest.function_name, wanted)
            names = referencing_aliases(self, latest.function_name, wanted)
            if names:
                raise S.ResourceConflict(
                    "Unable to delete version because the following aliases reference it: ["
                    + ", ".join(names) + "]"
                )
            self._lambdas._functions[latest.function_name]["versions"].remove(version)
            self._lambdas._arns.pop(version.function_arn, None)
            return None

    backend_class.delete_function = delete_function

    # [L13] DurableConfig ------------------------------------------------------

    patched_init = function_class.__init__

    def function_init(self: Any, account_id: str, spec: dict[str, Any], *args: Any, **kw: Any) -> None:
        patched_init(self, account_id, spec, *args, **kw)
        self._emu_durable = copy.deepcopy(spec.get("DurableConfig")) or None

    function_class.__init__ = function_init

    patched_update_configuration = function_class.update_configuration

    def update_configuration(self: Any, config_updates: dict[str, Any]) -> Any:
        if "DurableConfig" in config_updates:
            self._emu_durable = copy.deepcopy(config_updates.get("DurableConfig")) or None
        return patched_update_configuration(self, config_updates)

    function_class.update_configuration = update_configuration

    patched_get_configuration = function_class.get_configuration

    def get_configuration(self: Any, on_create: bool = False) -> dict[str, Any]:
        """[L13] FunctionConfiguration.DurableConfig, as stored (moto drops it)."""
        config = patched_get_configuration(self, on_create)
        durable = getattr(self, "_emu_durable", None)
        if durable:
            config["DurableConfig"] = copy.deepcopy(durable)
        return config

    function_class.get_configuration = get_configuration
