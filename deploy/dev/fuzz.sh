#!/usr/bin/env bash
# Fuzz every parser of outside input (fuzz/fuzz_targets/*.rs) for a bounded
# time each, from the seed corpora committed in fuzz/corpus/<target>/ (and,
# for attestation_parse, the real Nitro documents), and print executions
# and crashes per target.
#
#   deploy/dev/fuzz.sh [--seconds N] [--sanitizer S] [--build B] [--max-len BYTES] [--clean] [TARGET...]
#
# Defaults: 30 s, AddressSanitizer, a release build, inputs up to 20,000
# bytes (the largest real attestation document), every target. `--sanitizer none` (what
# CI runs) leaves out ASan's instrumentation and its checks at run time:
# the workspace forbids `unsafe`, so ASan watches only the C and unsafe
# code of dependencies, while panics, overflow checks (debug assertions
# stay on), hangs and the memory limit are caught either way.
#
# `--build dev` (what CI runs) builds the targets in fuzz/Cargo.toml's dev
# profile instead of cargo-fuzz's release one, which optimizes every crate
# as a single codegen unit with full debug info: the dev build takes a
# fraction of the time (22 minutes for the release one on a 2-core CI
# machine) and runs fewer executions per second, enough for a bounded
# smoke run; long runs use the release build.
#
# `--clean` (what CI runs) removes the build (several GB) once the targets
# have run, keeping the corpus, the logs and the table: CI's disk is shared
# with the workspace build and the test clusters.
#
# Installs cargo-fuzz when it is missing. Uses the nightly toolchain when
# one is installed, else RUSTC_BOOTSTRAP=1 with the default one. New inputs
# go to fuzz/target/corpus/<target>/ (not committed); a crash is left in
# fuzz/artifacts/<target>/ and makes the script fail. The table is also
# written to fuzz/target/results.tsv.
set -euo pipefail

usage() { echo "usage: $0 [--seconds N] [--sanitizer address|none] [--build release|dev] [--max-len BYTES] [--clean] [TARGET...]" >&2; exit 2; }

seconds=30
sanitizer=address
build=release
max_len=20000
clean=0
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) [ $# -ge 2 ] || usage; seconds="$2"; shift 2 ;;
    --sanitizer) [ $# -ge 2 ] || usage; sanitizer="$2"; shift 2 ;;
    --build) [ $# -ge 2 ] || usage; build="$2"; shift 2 ;;
    --max-len) [ $# -ge 2 ] || usage; max_len="$2"; shift 2 ;;
    --clean) clean=1; shift ;;
    -h|--help) usage ;;
    -*) echo "unknown option $1" >&2; usage ;;
    *) targets+=("$1"); shift ;;
  esac
done
case "$sanitizer" in
  address|none) ;;
  *) echo "--sanitizer wants address or none, not '$sanitizer'" >&2; exit 2 ;;
esac
build_flags=()
case "$build" in
  release) ;;
  dev) build_flags=(--dev) ;;
  *) echo "--build wants release or dev, not '$build'" >&2; exit 2 ;;
esac
case "$seconds" in
  ''|*[!0-9]*|0) echo "--seconds wants a positive whole number, not '$seconds'" >&2; exit 2 ;;
esac
case "$max_len" in
  ''|*[!0-9]*|0) echo "--max-len wants a positive whole number, not '$max_len'" >&2; exit 2 ;;
esac

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo/fuzz"
# A nested cargo must not inherit the outer one's variables (they make
# build scripts rerun).
while IFS= read -r var; do unset "$var"; done < <(env | sed -n 's/^\(CARGO_[A-Z_]*\)=.*/\1/p' | grep -v '^CARGO_HOME$')

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz (cargo install cargo-fuzz --locked)" >&2
  cargo install cargo-fuzz --locked --version 0.13.2
fi
toolchain=()
if rustup run nightly rustc --version >/dev/null 2>&1; then
  toolchain=(+nightly)
else
  echo "no nightly toolchain: using RUSTC_BOOTSTRAP=1 with the default one" >&2
  export RUSTC_BOOTSTRAP=1
fi

known=()
for file in fuzz_targets/*.rs; do known+=("$(basename "$file" .rs)"); done
if [ ${#targets[@]} -eq 0 ]; then targets=("${known[@]}"); fi
for target in "${targets[@]}"; do
  if [ ! -f "fuzz_targets/$target.rs" ]; then
    echo "no fuzz target '$target' (targets: ${known[*]})" >&2
    exit 2
  fi
done

cargo "${toolchain[@]}" fuzz build --sanitizer "$sanitizer" "${build_flags[@]}"

seed_attestation() {
  local fixtures="${DAAS_NITRO_FIXTURES:-$repo/../shared/fixtures/nitro}" into="$1"
  [ -d "$fixtures" ] || return 0
  for file in "$fixtures"/*.cbor "$fixtures"/*.b64; do
    [ -e "$file" ] && cp "$file" "$into/"
  done
  return 0
}

results="target/results.tsv"
mkdir -p target
printf 'target\tseconds\texecutions\tcrashes\n' > "$results"
failed=0
for target in "${targets[@]}"; do
  work="target/corpus/$target"
  seeds="corpus/$target"
  mkdir -p "$work" "$seeds" "artifacts/$target"
  if [ "$target" = attestation_parse ]; then seed_attestation "$work"; fi
  log="target/fuzz-$target.log"
  status=0
  # -timeout makes a hang a finding; -rss_limit_mb bounds memory.
  cargo "${toolchain[@]}" fuzz run --sanitizer "$sanitizer" "${build_flags[@]}" "$target" "$work" "$seeds" -- \
    -max_total_time="$seconds" -max_len="$max_len" -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 >"$log" 2>&1 || status=$?
  executions="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
  crashes="$(find "artifacts/$target" -type f | wc -l)"
  if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then crashes=1; fi
  printf '%s\t%s\t%s\t%s\n' "$target" "$seconds" "${executions:-0}" "$crashes" >> "$results"
  if [ "$crashes" -ne 0 ]; then
    echo "fuzz target $target failed (status $status); see fuzz/$log and fuzz/artifacts/$target/" >&2
    failed=1
  fi
done
column -t -s $'\t' "$results"
if [ "$clean" = 1 ]; then
  find target -mindepth 1 -maxdepth 1 ! -name corpus ! -name 'fuzz-*.log' ! -name results.tsv -exec rm -rf {} +
fi
exit "$failed"
