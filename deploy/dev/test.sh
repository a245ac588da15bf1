#!/usr/bin/env bash
# The README's second command: installs what the test suite needs
# (deploy/dev/setup.sh, idempotent: a second run only checks), then runs
# exactly `cargo test --workspace`. Extra arguments go to cargo test.
#
# Usage: deploy/dev/test.sh [CARGO TEST ARGS...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
deploy/dev/setup.sh
exec cargo test --workspace "$@"
