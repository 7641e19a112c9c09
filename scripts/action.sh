#!/usr/bin/env bash
# The GitHub Action's run step (action.yml): all of its logic, here so that it is
# tested (tests/action.rs runs it against the local emulator).
#
# Reads the action's inputs from INPUT_* variables, runs
#   ecr-lambda <command> [IMAGE] [flags] --output json
# and turns the JSON report into step outputs ($GITHUB_OUTPUT), a Markdown summary
# ($GITHUB_STEP_SUMMARY) and workflow annotations (::error:: / ::warning::). Exits
# with the tool's exit code.
#
# The binary is ${ECR_LAMBDA:-ecr-lambda}. JSON is read with python3 (present on every
# GitHub runner), so nothing else needs installing.
#
# `action.sh download` is the action's download step instead (see download() below).
set -euo pipefail

# ---- download: a release's prebuilt binary, verified, in place of a build ------------
#
# When the action runs at a release tag (its ref is vX.Y.Z), fetches that release's
# SHA256SUMS and the archive for this runner (RUNNER_OS, RUNNER_ARCH), checks the
# archive's sha256 against SHA256SUMS, then checks who built it:
#   gh attestation verify ARCHIVE --repo OWNER/REPO --signer-workflow OWNER/REPO/.github/workflows/release.yml
# (the attestation release.yml makes with attest-build-provenance; GH_TOKEN from the
# step's env). Only then is the binary installed as $ROOT/bin/ecr-lambda.
# The checksum alone proves integrity, not authorship: whoever can edit the release
# can replace the archive and SHA256SUMS together, but cannot make GitHub sign an
# attestation from this repository's release workflow.
# Writes the step output installed=true, or installed=false with a ::notice saying why
# the action builds from source instead: a ref that is no release tag, a runner with no
# prebuilt binary or no `gh` to check the attestation with, a release (or its archive)
# that cannot be fetched, a binary that does not run here. A checksum mismatch or an
# attestation that does not verify is an ::error and exit 1: such an archive is never
# unpacked or run, and the action does not quietly build instead.
#
# The ref and repository come from ACTION_REF and ACTION_REPOSITORY (action.yml sets
# them from github.action_ref and github.action_repository, which a composite action's
# `run` does not see itself); when empty, from ACTION_PATH, where the runner checks the
# action out (.../_actions/OWNER/REPO/REF).
# ECR_LAMBDA_TEST_ONLY_RELEASES_URL replaces https://github.com/OWNER/REPO/releases/download
# for the tests (tests/action.rs, a local server standing in for GitHub). It is honoured
# only for a loopback http URL and only when the action is not running from a
# workflow's _actions/ directory; set otherwise (any earlier step can set it through
# GITHUB_ENV), the step fails without downloading anything.
download() {
    local ref="${ACTION_REF:-}" repo="${ACTION_REPOSITORY:-}" root="${ROOT:?ROOT: where to install}"
    if [[ -z "$ref" && "${ACTION_PATH:-}" == */_actions/*/*/* ]]; then
        local rest="${ACTION_PATH##*/_actions/}"
        repo="${rest%%/*}/$(cut -d/ -f2 <<<"$rest")"
        ref="$(cut -d/ -f3 <<<"$rest")"
    fi
    if [[ ! "$ref" =~ ^v([0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?)$ ]]; then
        download_fallback "the action's ref (${ref:-a local path}) is not a release tag vX.Y.Z"
        return
    fi
    local version="${BASH_REMATCH[1]}" target
    case "${RUNNER_OS:-}/${RUNNER_ARCH:-}" in
        Linux/X64) target=x86_64-unknown-linux-gnu ;;
        Linux/ARM64) target=aarch64-unknown-linux-gnu ;;
        macOS/X64) target=x86_64-apple-darwin ;;
        macOS/ARM64) target=aarch64-apple-darwin ;;
        *)
            download_fallback "release $ref has no prebuilt binary for a ${RUNNER_OS:-?} ${RUNNER_ARCH:-?} runner"
            return
            ;;
    esac
    if [[ ! "$repo" =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]]; then
        download_fallback "the action's repository (${repo:-unknown}) is not OWNER/REPO"
        return
    fi
    local base="https://github.com/$repo/releases/download"
    local test_url="${ECR_LAMBDA_TEST_ONLY_RELEASES_URL:-}"
    if [[ -n "$test_url" ]]; then
        if [[ "${ACTION_PATH:-}" == */_actions/* ]]; then
            download_refused "ECR_LAMBDA_TEST_ONLY_RELEASES_URL is set, and the action runs from _actions/ ($repo $ref), as a workflow runs it: the variable is for this project's tests only"
        elif [[ ! "$test_url" =~ ^http://(127\.[0-9]+\.[0-9]+\.[0-9]+|localhost|\[::1\])(:[0-9]+)?(/[^[:space:]]*)?$ ]]; then
            download_refused "ECR_LAMBDA_TEST_ONLY_RELEASES_URL ($(one_line "$test_url")) is not a loopback URL: the variable is for this project's tests only"
        fi
        base="${test_url%/}"
        echo "::warning title=ecr-lambda download::downloading from $base (ECR_LAMBDA_TEST_ONLY_RELEASES_URL), not from GitHub"
    fi
    # Without gh the archive's attestation cannot be checked: the action builds from
    # this checkout instead, which the workflow's own `uses:` ref already names.
    if ! command -v gh >/dev/null; then
        download_fallback "gh (GitHub's CLI) is not on this runner, so the release archive's attestation cannot be checked"
        return
    fi
    local name="ecr-lambda-$version-$target" tmp status expected actual
    tmp="$(mktemp -d)"
    # shellcheck disable=SC2064 # the path is known now; this mode exits after download()
    trap "rm -rf '$tmp'" EXIT
    status="$(curl -sSL --retry 3 --connect-timeout 15 -o "$tmp/SHA256SUMS" -w '%{http_code}' \
        "$base/$ref/SHA256SUMS")" || status="no answer"
    if [[ "$status" != 200 ]]; then
        download_fallback "release $ref: $base/$ref/SHA256SUMS could not be fetched (HTTP $status)"
        return
    fi
    expected="$(awk -v f="$name.tar.gz" '$2 == f || $2 == "*" f { print $1; exit }' "$tmp/SHA256SUMS")"
    if [[ -z "$expected" ]]; then
        download_fallback "release $ref has no prebuilt binary for $target (not in its SHA256SUMS)"
        return
    fi
    status="$(curl -sSL --retry 3 --connect-timeout 15 -o "$tmp/$name.tar.gz" -w '%{http_code}' \
        "$base/$ref/$name.tar.gz")" || status="no answer"
    if [[ "$status" != 200 ]]; then
        download_fallback "release $ref: $base/$ref/$name.tar.gz could not be fetched (HTTP $status)"
        return
    fi
    if command -v sha256sum >/dev/null; then
        actual="$(sha256sum "$tmp/$name.tar.gz" | cut -d' ' -f1)"
    else
        actual="$(shasum -a 256 "$tmp/$name.tar.gz" | cut -d' ' -f1)"
    fi
    if [[ "$actual" != "$expected" ]]; then
        echo "::error title=ecr-lambda download::checksum mismatch: $name.tar.gz from $base/$ref has sha256 $actual, its release's SHA256SUMS says $expected. The archive was not unpacked or run; the step fails rather than build instead."
        exit 1
    fi
    local workflow="$repo/.github/workflows/release.yml" verified
    if ! verified="$(gh attestation verify "$tmp/$name.tar.gz" --repo "$repo" \
        --signer-workflow "$workflow" 2>&1)"; then
        echo "::error title=ecr-lambda download::$name.tar.gz from $base/$ref matches its SHA256SUMS, but its attestation does not verify (gh attestation verify --repo $repo --signer-workflow $workflow): $(one_line "$verified"). The archive was not unpacked or run; the step fails rather than build instead."
        exit 1
    fi
    echo "$verified" | tr -d '\r' | sed 's/^/gh: /' >&2
    tar -xzf "$tmp/$name.tar.gz" -C "$tmp" "$name/ecr-lambda"
    mkdir -p "$root/bin"
    install -m 755 "$tmp/$name/ecr-lambda" "$root/bin/ecr-lambda"
    local runs
    if ! runs="$("$root/bin/ecr-lambda" --version 2>&1)"; then
        rm -f "$root/bin/ecr-lambda"
        download_fallback "the prebuilt binary of release $ref for $target does not run on this runner: $runs"
        return
    fi
    echo "$runs: $name.tar.gz downloaded, sha256 $actual verified against the release's SHA256SUMS, its attestation by $workflow verified by gh" >&2
    echo "installed=true" >>"${GITHUB_OUTPUT:-/dev/null}"
}

download_fallback() {
    echo "::notice title=ecr-lambda download::$1: building ecr-lambda from source instead (minutes, not seconds)"
    echo "installed=false" >>"${GITHUB_OUTPUT:-/dev/null}"
}

# The step fails: nothing downloaded, nothing built.
download_refused() {
    echo "::error title=ecr-lambda download::$1. Nothing was downloaded or built."
    exit 1
}

# Text from outside (a URL, an input, gh's answer) as one line of a workflow command's
# message: CR, LF and the other control characters become spaces, so none can end the
# line and start a command of its own or drive the log's terminal emulation, and % is
# escaped as the runner requires.
one_line() {
    printf '%s' "$1" | LC_ALL=C tr '\001-\037\177' ' ' | sed 's/%/%25/g'
}

if [[ "${1:-}" == download ]]; then
    download
    exit 0
fi

bin="${ECR_LAMBDA:-ecr-lambda}"
command="${INPUT_COMMAND:-deploy}"
command="${command//[[:space:]]/}"

# The message names the input's value: one line in the log (see one_line), and its
# Markdown escaped in the summary.
fail_usage() {
    echo "::error title=action-input::$(one_line "$1")"
    if [[ -n "${GITHUB_STEP_SUMMARY:-}" ]]; then
        printf '### ecr-lambda: the inputs cannot be used\n\n%s\n\nExit code 2.\n' \
            "$(one_line "$1" | sed 's/[][\\`*_<>!|~&]/\\&/g')" >>"$GITHUB_STEP_SUMMARY"
    fi
    if [[ -n "${GITHUB_OUTPUT:-}" ]]; then
        echo "exit-code=2" >>"$GITHUB_OUTPUT"
    fi
    exit 2
}

case "$command" in
    check | fix | deploy | rollback) ;;
    *) fail_usage "command must be check, fix, deploy or rollback (got '${command}')" ;;
esac

# true/false inputs: empty means the default. Sets the variable named $1.
bool() {
    local var="$1" name="$2" value="${3:-}"
    value="${value//[[:space:]]/}"
    case "$value" in
        "") printf -v "$var" '%s' "" ;;
        true | True | TRUE | yes | 1) printf -v "$var" '%s' true ;;
        false | False | FALSE | no | 0) printf -v "$var" '%s' false ;;
        *) fail_usage "$name must be true or false (got '$3')" ;;
    esac
}
bool dry_run dry-run "${INPUT_DRY_RUN:-}"
bool keep_provenance keep-provenance "${INPUT_KEEP_PROVENANCE:-}"
bool require_provenance require-provenance "${INPUT_REQUIRE_PROVENANCE:-}"
bool require_signed require-signed "${INPUT_REQUIRE_SIGNED:-}"
probe_logs=""
bool probe_logs probe-logs "${INPUT_PROBE_LOGS:-}"
protect=""
bool protect protect "${INPUT_PROTECT:-}"

trim() {
    local s="$1"
    s="${s#"${s%%[![:space:]]*}"}"
    s="${s%"${s##*[![:space:]]}"}"
    printf '%s' "$s"
}

# Only the inputs that are set become flags: the tool's own defaults apply otherwise,
# and a flag this build of the tool does not know is never passed unasked.
args=("$command")
image="$(trim "${INPUT_IMAGE:-}")"
# rollback names no image, and has no platform, tag or provenance to choose: a step
# that deploys or rolls back with the same inputs gives them anyway.
if [[ "$command" == rollback ]]; then
    image="" INPUT_PLATFORM="" INPUT_TAG="" keep_provenance=""
    require_provenance="" require_signed="" INPUT_PROVENANCE_SOURCE="" INPUT_PROVENANCE_REVISION=""
    INPUT_PROVENANCE_BUILDER=""
fi
# require-provenance pins the image to this workflow's repository and commit, unless
# the inputs say otherwise ('*': not pinned).
provenance_source="$(trim "${INPUT_PROVENANCE_SOURCE:-}")"
provenance_revision="$(trim "${INPUT_PROVENANCE_REVISION:-}")"
if [[ "$require_provenance" == true ]]; then
    if [[ -z "$provenance_source" && -n "${GITHUB_REPOSITORY:-}" ]]; then
        provenance_source="${GITHUB_SERVER_URL:-https://github.com}/${GITHUB_REPOSITORY}"
    fi
    [[ -z "$provenance_revision" ]] && provenance_revision="${GITHUB_SHA:-}"
fi
[[ "$provenance_source" == "*" ]] && provenance_source=""
[[ "$provenance_revision" == "*" ]] && provenance_revision=""
# Only deploy releases gradually.
if [[ "$command" != deploy ]]; then
    INPUT_CANARY="" INPUT_BAKE="" INPUT_LINEAR="" INPUT_EVERY="" INPUT_ALARMS="" INPUT_PROBE=""
fi
# check and fix do not release or wait; check writes nothing at all.
if [[ "$command" == check || "$command" == fix ]]; then
    INPUT_ALIAS="" INPUT_WAIT_TIMEOUT=""
fi
if [[ "$command" == check ]]; then
    INPUT_TAG="" dry_run="" keep_provenance=""
fi
[[ -n "$image" ]] && args+=("$image")
functions=()
while IFS= read -r line; do
    line="$(trim "$line")"
    [[ -n "$line" ]] && functions+=("$line") && args+=(--function "$line")
done <<<"${INPUT_FUNCTION:-}"
# Only deploy takes several functions; the others would stop at the tool's usage
# error with no report, so the step says so itself.
if [[ "$command" != deploy && ${#functions[@]} -gt 1 ]]; then
    fail_usage "command ${command} takes one function, and the function input names ${#functions[@]} (${functions[*]}): use one step per function, or command deploy"
fi
for pair in "alias:${INPUT_ALIAS:-}" "platform:${INPUT_PLATFORM:-}" "tag:${INPUT_TAG:-}" \
    "region:${INPUT_REGION:-}" "wait-timeout:${INPUT_WAIT_TIMEOUT:-}" \
    "canary:${INPUT_CANARY:-}" "bake:${INPUT_BAKE:-}" "linear:${INPUT_LINEAR:-}" \
    "every:${INPUT_EVERY:-}" "probe:${INPUT_PROBE:-}"; do
    value="$(trim "${pair#*:}")"
    [[ -n "$value" ]] && args+=("--${pair%%:*}" "$value")
done
while IFS= read -r line; do
    line="$(trim "$line")"
    [[ -n "$line" ]] && args+=(--alarm "$line")
done <<<"${INPUT_ALARMS:-}"
[[ "$dry_run" == true ]] && args+=(--dry-run)
[[ "$keep_provenance" == false ]] && args+=(--no-keep-provenance)
[[ "$require_provenance" == true ]] && args+=(--require-provenance)
[[ -n "$provenance_source" ]] && args+=(--provenance-source "$provenance_source")
[[ -n "$provenance_revision" ]] && args+=(--provenance-revision "$provenance_revision")
builder="$(trim "${INPUT_PROVENANCE_BUILDER:-}")"
[[ -n "$builder" ]] && args+=(--provenance-builder "$builder")
[[ "$require_signed" == true ]] && args+=(--require-signed)
# protect: only deploy tags the image and the way back.
[[ "$protect" == true && "$command" == deploy ]] && args+=(--protect)
args+=(--output json)

report_file="$(mktemp)"
trap 'rm -f "$report_file"' EXIT
# The tool's log and text error (stderr) go to the step's log, and they carry text
# from outside (AWS's messages, an image's): between ::stop-commands:: and the
# random token that ends it, the runner reads no line as a workflow command.
token="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
echo "::stop-commands::$token"
# The inputs, echoed on one line each way: CR and LF cannot start a command.
one_line "ecr-lambda ${args[*]}" >&2
echo >&2
# The report is stdout.
set +e
"$bin" "${args[@]}" >"$report_file"
code=$?
set -e
echo "::$token::"

# Outputs, summary and annotations from the report. Annotations go to stdout, outputs
# and the summary are appended to their files (when the runner gives them).
# A failure of this reporting never replaces the tool's own exit code.
COMMAND="$command" DRY_RUN="$dry_run" EXIT_CODE="$code" REPORT_FILE="$report_file" \
    PROBE_LOGS="$probe_logs" python3 - <<'PY' ||
import json, os, re, secrets

command = os.environ["COMMAND"]
code = int(os.environ["EXIT_CODE"])
text = open(os.environ["REPORT_FILE"], encoding="utf-8", errors="replace").read()


probe_logs = os.environ.get("PROBE_LOGS") == "true"

# The report's text comes from outside (an image's attestation, AWS's messages, a
# function's output): it reaches the log and the summary only through visible() (the
# tool's src/text.rs, the same characters, the same \u{1b} form) and, in the summary,
# md(). JSON and the `report` output stay exact.
BIDI = {0x061C, 0xFEFF} | set(range(0x200B, 0x2010)) | set(range(0x2028, 0x202F)) \
    | set(range(0x2060, 0x206A))


def visible(s):
    return "".join(f"\\u{{{ord(c):x}}}" if ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F
                   or ord(c) in BIDI else c for c in str(s))


def md(s):
    """Outside text as Markdown that shows it and does nothing else: every character
    that could open a link or an image, emphasis, a code span, HTML, an entity or a
    table cell is backslash-escaped (CommonMark lets any ASCII punctuation be escaped
    so). A table cell never starts a line, so list and heading marks need nothing."""
    return re.sub(r"([\\`*_\[\]<>!|~&])", r"\\\1", visible(s))


def mono(s):
    # Not a code span: a backtick inside would end it, and escapes do not work there.
    return f"<code>{md(s)}</code>"


def escape_data(s):
    return str(s).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(s):
    return escape_data(s).replace(":", "%3A").replace(",", "%2C")


def annotate(level, message, title=None, hint=None):
    props = f" title={escape_property(visible(title))}" if title else ""
    message = visible(message) + (f"\nhint: {visible(hint)}" if hint else "")
    print(f"::{level}{props}::{escape_data(message)}", flush=True)


try:
    report = json.loads(text) if text.strip() else None
except ValueError:
    report = None
if not isinstance(report, dict):
    report = None


def get(*path):
    value = report
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def as_text(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


outputs = {}
summary = []
error = get("error") if report is not None else None

if report is None:
    annotate("error", f"ecr-lambda exited {code} without a JSON report (see the log above)")
elif isinstance(error, dict):
    message = as_text(error.get("message")) or "ecr-lambda failed"
    annotate("error", message, as_text(error.get("kind")) or None, as_text(error.get("hint")))
    summary += [f"### ecr-lambda {command}: error", "", f"**{md(as_text(error.get('kind')))}**: "
                f"{md(as_text(error.get('message')))}", ""]
    if error.get("hint"):
        summary += [f"Hint: {md(as_text(error['hint']))}", ""]
else:
    # `problems` describe the image as it was found. Once fix or deploy has written (or
    # would write) the tag, those were resolved: notices, not errors. The problems of
    # the fix itself (a tag it may not write, an attestation it could not keep) stay
    # errors, as does everything a check finds.
    action = as_text(get("action"))
    resolved = command != "check" and action in ("retagged", "already-ready", "planned")
    resolved_note = "would be fixed (dry run)" if action == "planned" else "fixed"
    fix_step_codes = {"tag-immutable", "provenance-not-kept"}
    problems, fixed = [], []
    for finding in get("problems") or []:
        if isinstance(finding, dict):
            if resolved and finding.get("code") not in fix_step_codes:
                fixed.append(finding)
            else:
                problems.append(finding)
    warnings = [f for f in get("warnings") or [] if isinstance(f, dict)]
    # With several functions, each one's problems are annotated with its name below.
    several = len([d for d in get("deployments") or [] if isinstance(d, dict)]) > 1
    for level, found, prefix in (("error", [] if several else problems, ""), ("warning", warnings, ""),
                                 ("notice", fixed, f"{resolved_note}: ")):
        for finding in found:
            annotate(level, prefix + as_text(finding.get("message")), as_text(finding.get("code")) or None)
    update_status = as_text(get("update", "status"))
    if update_status in ("failed", "in-progress"):
        reason = as_text(get("update", "reason")) or f"the function update is {update_status}"
        annotate("error", reason, f"update-{update_status}")

    image = as_text(get("image"))
    # The target only: with no single target (several architectures, or none), empty
    # rather than the index's digest, which Lambda cannot run.
    digest = as_text(get("target", "digest"))
    image_uri = as_text(get("image_uri"))
    if not image_uri and image and get("target", "digest"):
        # The target by digest, as a deploy would name it.
        repo = image.split("@", 1)[0]
        slash = repo.rfind("/")
        colon = repo.rfind(":")
        if colon > slash:
            repo = repo[:colon]
        image_uri = f"{repo}@{digest}"
    update = get("update")
    rolled_to = get("to") if command == "rollback" else None
    if isinstance(rolled_to, dict):
        image_uri = as_text(rolled_to.get("image_uri"))
        digest = image_uri.split("@", 1)[1] if "@" in image_uri else ""
    deployments = [d for d in get("deployments") or [] if isinstance(d, dict)]
    if isinstance(update, dict) and update.get("status") is not None:
        status = as_text(update.get("status"))
    elif len(deployments) > 1:
        # Several functions: each one's status, in the order given (one when all agree).
        statuses = [as_text((d.get("update") or {}).get("status")) or "not-updated" for d in deployments]
        status = statuses[0] if len(set(statuses)) == 1 else ",".join(statuses)
    elif command == "rollback":
        status = as_text(get("status")) or "unchanged"
    elif command == "check":
        status = as_text(get("lambda_ready"))
    else:
        status = as_text(get("action")) or as_text(get("status"))
    outputs = {
        "image-uri": image_uri,
        "digest": digest,
        "written-tag": as_text(get("written_tag")),
        "version": as_text(get("update", "version")) or as_text(get("alias", "version"))
                   or as_text(get("to", "version")),
        "status": status,
    }

    platform = get("target", "platform")
    if isinstance(platform, dict):
        platform = "/".join(as_text(platform.get(k)) for k in ("os", "architecture", "variant") if platform.get(k))
    kept = get("provenance_written")
    kept = ", ".join(mono(d) for d in kept) if kept else "none"
    # Each row is Markdown: outside text in it went through md() or mono().
    rows = [("Image", mono(image) if image else ""), ("Target digest", mono(digest) if digest else ""),
            ("Platform", md(as_text(platform)))]
    if command == "check":
        rows.append(("Lambda-ready", as_text(get("lambda_ready"))))
    else:
        rows += [("Written tag", mono(outputs["written-tag"]) if outputs["written-tag"] else "none"),
                 ("Provenance kept", kept)]
    function = get("function")
    if isinstance(function, dict):
        result = status or "not updated"
        if outputs["version"]:
            result += f" (version {outputs['version']})"
        if isinstance(update, dict) and update.get("reason"):
            result += f": {update['reason']}"
        rows.append((f"Function {mono(as_text(function.get('name')))}", md(result)))
    if len(deployments) > 1:
        for d in deployments:
            name = as_text((d.get("function") or {}).get("name"))
            up = d.get("update") if isinstance(d.get("update"), dict) else {}
            result = as_text(up.get("status")) or "not updated"
            if up.get("version"):
                result += f" (version {up['version']})"
            if up.get("reason"):
                result += f": {up['reason']}"
            err = d.get("error")
            if isinstance(err, dict):
                result += f": {as_text(err.get('message'))}"
                annotate("error", f"{name}: {as_text(err.get('message'))}",
                         as_text(err.get("kind")) or None, as_text(err.get("hint")))
            rows.append((f"Function {mono(name)}", md(result)))
            if up.get("status") in ("failed", "in-progress"):
                annotate("error", f"{name}: " + (as_text(up.get("reason")) or f"the update is {up['status']}"),
                         f"update-{up['status']}")
            for finding in d.get("problems") or []:
                if isinstance(finding, dict):
                    annotate("error", f"{name}: {as_text(finding.get('message'))}", as_text(finding.get("code")) or None)
    if command == "rollback":
        what = f"alias {mono(as_text(get('alias')))}" if get("alias") else mono("$LATEST")
        from_version = md(as_text(get("from", "version")) or "$LATEST")
        if rolled_to:
            rows.append(("Rollback", f"{what} from version {from_version} to version "
                         f"{md(as_text(rolled_to.get('version')) or '-')} ({md(status)})"))
        else:
            rows.append(("Rollback", f"{what} stays at {from_version}"))
        if get("reason"):
            rows.append(("Reason", md(as_text(get("reason")))))
            annotate("error" if code != 0 else "notice", as_text(get("reason")), "rollback")
        if get("weights_removed"):
            annotate("warning", "the alias was in the middle of a gradual release: its weights were "
                     "removed", "weights-removed")
    alias = get("alias")
    if isinstance(alias, dict):
        rows.append((f"Alias {mono(as_text(alias.get('name')))}",
                     md(f"version {as_text(alias.get('version')) or '(to publish)'}"
                        + (f", was {alias['previous_version']}" if alias.get("previous_version") else ""))))
    for d in deployments or []:
        a = d.get("alias") if isinstance(d.get("alias"), dict) else {}
        if a.get("weights_removed"):
            name = as_text((d.get("function") or {}).get("name"))
            annotate("warning", f"{name}: alias {as_text(a.get('name'))} carried the weights of an unfinished "
                     f"gradual release ({a['weights_removed']}); they were removed", "weights-removed")
    release = get("release")
    if isinstance(release, dict):
        outputs["release-outcome"] = as_text(release.get("outcome"))
        rows.append(("Release", md(f"{as_text(release.get('strategy'))}: {as_text(release.get('outcome'))}")))
        probe_detail_left_out = False
        for p in release.get("probes") or []:
            if not isinstance(p, dict):
                continue
            verdict = {True: "passed", False: "FAILED", None: "planned"}.get(p.get("passed"), "")
            # The function's own words (its error message, its log) may carry secrets,
            # and the summary is public on a public repository: they stay in the log
            # and the JSON unless probe-logs is true. The error type names the failure.
            detail = as_text(p.get("error_type"))
            if probe_logs and p.get("error_message"):
                detail = ": ".join(x for x in (detail, as_text(p.get("error_message"))) if x)
            elif p.get("error_message") or p.get("log_tail"):
                probe_detail_left_out = True
            rows.append((f"Probe {mono(as_text(p.get('function')))} version "
                         f"{md(as_text(p.get('version')) or '(to publish)')}",
                         md(verdict + (f" ({detail})" if detail else ""))))
            if probe_logs:
                for line in p.get("log_tail") or []:
                    rows.append(("Probe log", mono(line)))
        for i, step in enumerate(release.get("steps") or [], 1):
            if not isinstance(step, dict):
                continue
            weight = step.get("weight")
            share = f"{round(weight * 100, 2):g}%" if isinstance(weight, (int, float)) else "?"
            if step.get("started_at"):
                when = f"from {as_text(step.get('started_at'))}"
                when += f" to {as_text(step.get('ended_at'))}" if step.get("ended_at") else ", stopped"
            else:
                when = f"for {as_text(step.get('hold_seconds'))} s (not started)"
            rows.append((f"Step {i}", md(f"{share} of the traffic {when}")))
        for alarm in release.get("alarms") or []:
            if isinstance(alarm, dict):
                rows.append((f"Alarm {mono(as_text(alarm.get('name')))}", md(as_text(alarm.get("state")))))
        if release.get("reason"):
            rows.append(("Release reason", md(as_text(release.get("reason")))))
        if probe_detail_left_out:
            rows.append(("Probe output", "in the step's log and the JSON report, not here "
                         "(`probe-logs: true` puts it here)"))
            level = "error" if release.get("outcome") in ("refused", "rolled-back") else "notice"
            annotate(level, as_text(release.get("reason")), f"release-{as_text(release.get('outcome'))}")
    # What the provenance says (the first statement about the image), and what the
    # requirements came to.
    for p in get("provenance") or []:
        st = p.get("statement") if isinstance(p, dict) else None
        if isinstance(st, dict) and st.get("subject_matches"):
            rows.append(("Built from", mono(as_text(st.get("source")) or "-")))
            rows.append(("Revision", mono(as_text(st.get("revision")) or "-")))
            rows.append(("Builder", md(as_text(st.get("builder_id")) or "-")))
            break
    verification = get("verification")
    if isinstance(verification, dict):
        # What was checked, and no more: a statement the registry holds (anyone who can
        # push can push one), and ECR's own word on its signing.
        if verification.get("require_provenance"):
            rows.append(("Provenance", "the registry holds a statement matching the requirements "
                         "(who wrote it is not checked)" if verification.get("passed")
                         else "NO statement in the registry matches the requirements"))
        signing = verification.get("signing")
        if isinstance(signing, dict):
            rows.append(("ECR signing status", "COMPLETE (ECR's word; no signature is checked)"
                         if signing.get("complete") else "not COMPLETE"))
    summary += [f"### ecr-lambda {command}", "", "| | |", "| --- | --- |"]
    summary += [f"| {k} | {v} |" for k, v in rows if v != ""]
    summary.append("")
    for heading, found in (("Problems", problems), ("Warnings", warnings),
                           (resolved_note.capitalize(), fixed)):
        if found:
            summary += [f"**{heading}**", ""]
            summary += [f"- {mono(as_text(f.get('code')))}: {md(as_text(f.get('message')))}" for f in found]
            summary.append("")

summary.append(f"Exit code {code}.")
outputs["exit-code"] = str(code)
outputs["report"] = text.rstrip("\n")

out_path = os.environ.get("GITHUB_OUTPUT")
if out_path:
    with open(out_path, "a", encoding="utf-8") as out:
        for name, value in outputs.items():
            if name == "report" or "\n" in value or "\r" in value:
                delimiter = f"EOF_{secrets.token_hex(16)}"
                while delimiter in value:
                    delimiter = f"EOF_{secrets.token_hex(16)}"
                out.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
            else:
                out.write(f"{name}={value}\n")

summary_path = os.environ.get("GITHUB_STEP_SUMMARY")
if summary_path:
    with open(summary_path, "a", encoding="utf-8") as out:
        out.write("\n".join(summary) + "\n")
PY
    echo "::warning title=action-report::the report could not be turned into outputs and a summary (see the log)"

exit "$code"
