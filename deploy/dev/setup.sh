#!/usr/bin/env bash
# Installs everything the K3s-DaaS test suite needs on a fresh machine of the
# project's kind (Debian with Rust, Go, Node.js): Rust components, the pinned
# npm packages of the TypeScript cross-checks, the Debian parts of the test
# node (runc, CNI plugins, busybox), and the cached control-plane, kwok and
# node builds. Idempotent: a second run only checks.
#
# Usage: deploy/dev/setup.sh [--without-control-plane]
#   --without-control-plane  skip deploy/k3s/build.sh (CI runs it in parallel
#                            with the Rust lint pass)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
build_control_plane=1
for arg in "$@"; do
	case "${arg}" in
	--without-control-plane) build_control_plane=0 ;;
	-h | --help)
		print_help
		exit 0
		;;
	*) echo "deploy/dev/setup.sh: unknown argument ${arg} (see --help)" >&2; exit 2 ;;
	esac
done
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

step() { printf '\n==> %s\n' "$*" >&2; }

# Debian packages: a Secret Service (gnome-keyring in a private D-Bus session)
# for the wallet's OS-keyring tests; gcc and libc headers for cgo builds and
# the pause image; for the real kubelet nodes of the end-to-end tests (see
# deploy/k3s/README.md): runc, the CNI plugins, a static busybox for the
# busybox image, socat (the node's API server relay), iproute2 and
# util-linux (veth pairs, namespaces); tmux, which drives the console's TUI
# in its end-to-end tests; shellcheck, which CI runs on the shell scripts;
# python3-venv for schemathesis, which tests the APIs against their OpenAPI
# documents; curl, which the seed flows test talks to the master with.
APT_PACKAGES=(dbus dbus-daemon gnome-keyring build-essential
	runc containernetworking-plugins busybox-static socat iproute2 util-linux tmux
	shellcheck python3-venv curl)

# The schemathesis release the API schema tests (tests/tests/api_schema.rs) run.
SCHEMATHESIS_VERSION=4.32.5
SCHEMATHESIS_VENV="${HOME}/.cache/k3s-daas/schemathesis-${SCHEMATHESIS_VERSION}"
# cargo-deny, which CI runs over deny.toml; cargo-fuzz, which runs the fuzz
# targets (deploy/dev/fuzz.sh).
CARGO_DENY_VERSION=0.20.2
CARGO_FUZZ_VERSION=0.13.2

step "Debian packages: ${APT_PACKAGES[*]}"
missing=()
for package in "${APT_PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "${package}" 2>/dev/null | grep -q "install ok installed" || missing+=("${package}")
done
if ((${#missing[@]})); then
	sudo=""
	[[ "$(id -u)" == 0 ]] || sudo="sudo"
	${sudo} apt-get update -qq
	DEBIAN_FRONTEND=noninteractive ${sudo} apt-get install -y -qq "${missing[@]}"
fi

step "Rust components (rustfmt, clippy)"
rustup component add rustfmt clippy >/dev/null

step "cargo-deny ${CARGO_DENY_VERSION} and cargo-fuzz ${CARGO_FUZZ_VERSION} (crates.io)"
if [[ "$(cargo deny --version 2>/dev/null)" != "cargo-deny ${CARGO_DENY_VERSION}" ]]; then
	cargo install --locked cargo-deny --version "${CARGO_DENY_VERSION}"
fi
if [[ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz ${CARGO_FUZZ_VERSION}" ]]; then
	cargo install --locked cargo-fuzz --version "${CARGO_FUZZ_VERSION}"
fi

# libFuzzer's instrumentation needs nightly flags: a nightly toolchain when
# rustup can fetch one, else deploy/dev/fuzz.sh runs the default toolchain
# with RUSTC_BOOTSTRAP=1.
step "Rust nightly for the fuzz targets"
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
	rustup toolchain install nightly --profile minimal ||
		echo "no nightly toolchain (deploy/dev/fuzz.sh falls back to RUSTC_BOOTSTRAP=1)" >&2
fi

step "Node.js $(node --version) and the pinned @mysten/sui (tests/js)"
if [[ ! -d tests/js/node_modules/@mysten/sui ]] || [[ tests/js/package-lock.json -nt tests/js/node_modules ]]; then
	npm ci --prefix tests/js --no-audit --no-fund
	touch tests/js/node_modules
fi

step "schemathesis ${SCHEMATHESIS_VERSION} (PyPI) in ${SCHEMATHESIS_VENV}"
if [[ ! -x "${SCHEMATHESIS_VENV}/bin/schemathesis" ]]; then
	python3 -m venv "${SCHEMATHESIS_VENV}"
	"${SCHEMATHESIS_VENV}/bin/pip" install -q "schemathesis==${SCHEMATHESIS_VERSION}"
fi

if ((build_control_plane)); then
	step "Control plane, kwok and the kubelet node for the end-to-end tests (cached in ~/.cache/k3s-daas)"
	deploy/k3s/build.sh
fi

step "Setup complete; run the tests with: deploy/dev/test.sh (or cargo test --workspace)"
