#!/usr/bin/env bash
# Builds the `daas-master` release binary twice from the same commit, in two
# clean directories of different names and lengths, and compares the two
# SHA-256s: the binary's measurement is what users attest, so anyone must be
# able to rebuild it bit for bit.
#
# What makes the build independent of where it runs: the source directory
# and CARGO_HOME are remapped to fixed names in everything rustc and the C
# compiler write (panic locations, debug info, `file!()`), the linker writes
# no build id, and SOURCE_DATE_EPOCH is the commit's time for any tool that
# would stamp one. The toolchain itself (`rustc -vV`) must be the same.
#
# Usage: deploy/dev/reproducible.sh [COMMIT]   (default HEAD)
# Prints `sha256 <hash>` and exits 0 when both builds match; exits 1 and
# keeps both trees (their paths are printed) when they differ.
# Expensive: two full release builds. Run it with nohup and nice.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
commit="$(git rev-parse --verify "${1:-HEAD}^{commit}")"
cargo_home="${CARGO_HOME:-${HOME}/.cargo}"
epoch="$(git log -1 --format=%ct "${commit}")"
work="$(mktemp -d "${TMPDIR:-/tmp}/daas-reproducible.XXXXXX")"

# build DIR: a clean export of the commit into DIR, then the release build;
# prints the binary's SHA-256.
build() {
	local dir="$1"
	mkdir -p "${dir}"
	git archive --format=tar "${commit}" | tar -x -C "${dir}"
	(
		cd "${dir}"
		export CARGO_INCREMENTAL=0 CARGO_TERM_COLOR=never
		export SOURCE_DATE_EPOCH="${epoch}"
		export RUSTFLAGS="--remap-path-prefix=${dir}=/k3s-daas --remap-path-prefix=${cargo_home}=/cargo -C link-arg=-Wl,--build-id=none"
		export CFLAGS="-ffile-prefix-map=${dir}=/k3s-daas -ffile-prefix-map=${cargo_home}=/cargo"
		cargo build --release --locked -p daas-master --bin daas-master >&2
	)
	sha256sum "${dir}/target/release/daas-master" | cut -d' ' -f1
}

echo "commit ${commit}; $(rustc --version); builds under ${work}" >&2
first="$(build "${work}/a/k3s-daas")"
echo "first build:  ${first}" >&2
second="$(build "${work}/second-build/src/k3s-daas")"
echo "second build: ${second}" >&2
if [[ "${first}" != "${second}" ]]; then
	echo "deploy/dev/reproducible.sh: the builds differ; trees kept in ${work}" >&2
	exit 1
fi
rm -rf "${work}"
echo "sha256 ${first}"
