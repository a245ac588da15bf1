#!/usr/bin/env bash
# The whole K3s-DaaS on this machine with its embedded defaults: the devnet,
# the control plane wired to the master's webhooks, and the master with dev
# (INSECURE) attestation. Installs what it needs first (deploy/dev/setup.sh,
# idempotent), then runs until Ctrl-C, which stops everything and removes
# its data.
#
# Usage: deploy/dev/up.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
deploy/dev/setup.sh
cargo build --bins -p daas-devnet -p daas-master -p daas-console
exec cargo run -q -p daas-e2e --bin daas-local
