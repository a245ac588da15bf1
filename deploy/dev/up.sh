#!/usr/bin/env bash
# The whole K3s-DaaS on this machine: the devnet, the control plane wired to
# the master's webhooks, the master with dev (INSECURE) attestation, one
# agent with a real kubelet node and simulated agents, kept in a state
# directory (default ~/.local/share/k3s-daas/local) so that the next `up`
# resumes the same chain, cluster, wallets and nodes. Installs what it needs
# first (deploy/dev/setup.sh, idempotent), builds the workspace's binaries
# (one build of every binary, as the launcher itself would), then runs
# `daas-local up` until Ctrl-C or `daas-local down`.
#
# Usage: deploy/dev/up.sh [daas-local up options: --agents N, --no-console,
#                          --state-dir DIR, --devnet-port P, ...]
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
for arg in "$@"; do
	case "${arg}" in
	-h | --help)
		print_help
		echo
		echo "daas-local up's options, once built: target/debug/daas-local up --help"
		exit 0
		;;
	esac
done
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
deploy/dev/setup.sh
build_binaries
exec "${CARGO_TARGET_DIR:-target}/debug/daas-local" up "$@"
