#!/usr/bin/env bash
# Fuzz the attestation document parser (fuzz/fuzz_targets/attestation_parse.rs)
# for a bounded time.
#
#   deploy/dev/fuzz-attestation.sh [SECONDS]     (default 60)
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`) and a nightly
# toolchain; with only stable installed it falls back to RUSTC_BOOTSTRAP=1.
# The corpus is seeded with the real Nitro documents from
# $DAAS_NITRO_FIXTURES (default: ../shared/fixtures/nitro beside the
# checkout). Crashes are left in fuzz/artifacts/attestation_parse/.
set -euo pipefail

seconds="${1:-60}"
case "$seconds" in
  ''|*[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
fixtures="${DAAS_NITRO_FIXTURES:-$repo/../shared/fixtures/nitro}"
corpus="$repo/fuzz/corpus/attestation_parse"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz is not installed: cargo install cargo-fuzz --locked" >&2
  exit 1
fi

toolchain=()
if rustup run nightly rustc --version >/dev/null 2>&1; then
  toolchain=(+nightly)
else
  echo "no nightly toolchain: using RUSTC_BOOTSTRAP=1 with the default one" >&2
  export RUSTC_BOOTSTRAP=1
fi

mkdir -p "$corpus"
if [ -d "$fixtures" ]; then
  for file in "$fixtures"/*.cbor; do
    [ -e "$file" ] && cp "$file" "$corpus/"
  done
  for file in "$fixtures"/*.b64; do
    [ -e "$file" ] || continue
    base64 -d "$file" > "$corpus/$(basename "$file" .b64).cbor"
    cp "$file" "$corpus/"
  done
else
  echo "warning: no fixtures at $fixtures; fuzzing from an empty corpus" >&2
fi

cd "$repo/fuzz"
# -rss_limit_mb bounds memory; -max_len covers the largest real document.
exec cargo "${toolchain[@]}" fuzz run attestation_parse "$corpus" -- \
  -max_total_time="$seconds" -max_len=20000 -rss_limit_mb=2048 -timeout=10
