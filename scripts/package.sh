#!/usr/bin/env bash
# The release archives, as the release workflow (.github/workflows/release.yml) makes
# them and the tests (tests/action.rs) make their stand-in release:
#
#   scripts/package.sh archive VERSION TARGET BINARY MANPAGE OUTDIR
#       OUTDIR/ecr-lambda-VERSION-TARGET.tar.gz, one top directory of the same name
#       holding ecr-lambda (BINARY), LICENSE, README.md and ecr-lambda.1 (MANPAGE, the
#       roff of `ecr-lambda manpage`). The layout Cargo.toml's
#       [package.metadata.binstall], the action's download step and the README's
#       one-line install read.
#   scripts/package.sh sums OUTDIR
#       OUTDIR/SHA256SUMS: `sha256  name` for every OUTDIR/*.tar.gz, as sha256sum -c
#       reads it.
#
# GNU tar (the workflow packages on Linux): owner, group and times are fixed (times to
# SOURCE_DATE_EPOCH, the workflow gives the tagged commit's), so the same inputs make the
# same archive bytes.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

case "${1:-}" in
    archive)
        [[ $# -eq 6 ]] || { echo "usage: $0 archive VERSION TARGET BINARY MANPAGE OUTDIR" >&2; exit 2; }
        version="$2" target="$3" binary="$4" manpage="$5" outdir="$6"
        name="ecr-lambda-$version-$target"
        stage="$(mktemp -d)"
        trap 'rm -rf "$stage"' EXIT
        mkdir -p "$stage/$name" "$outdir"
        install -m 755 "$binary" "$stage/$name/ecr-lambda"
        install -m 644 "$root/LICENSE" "$root/README.md" "$stage/$name/"
        install -m 644 "$manpage" "$stage/$name/ecr-lambda.1"
        tar -C "$stage" --sort=name --owner=0 --group=0 --numeric-owner \
            --mtime="@${SOURCE_DATE_EPOCH:-0}" \
            -cf - "$name" | gzip -n -9 >"$outdir/$name.tar.gz"
        echo "$outdir/$name.tar.gz"
        ;;
    sums)
        [[ $# -eq 2 ]] || { echo "usage: $0 sums OUTDIR" >&2; exit 2; }
        cd "$2"
        shopt -s nullglob
        archives=(*.tar.gz)
        [[ ${#archives[@]} -gt 0 ]] || { echo "no archive in $2" >&2; exit 1; }
        sha256sum "${archives[@]}" >SHA256SUMS
        cat SHA256SUMS
        ;;
    *)
        echo "usage: $0 archive VERSION TARGET BINARY MANPAGE OUTDIR | $0 sums OUTDIR" >&2
        exit 2
        ;;
esac
