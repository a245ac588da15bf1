#!/usr/bin/env bash
# Times `daas-local up` from the command to a usable stack (its "ready in"
# line: the real node Ready, the dev enclave registered, the console profile
# written), cold (empty state directory, binaries built) and warm (`down`,
# then `up` on the kept state), RUNS times each. Uses a temporary state
# directory and the ports below, and resets the stack at the end.
#
# Usage: deploy/local/bench.sh [RUNS]   (default 2)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
runs="${1:-2}"
cargo build -q --workspace --bins
launcher="${CARGO_TARGET_DIR:-target}/debug/daas-local"
state="$(mktemp -d)/state"
ports=(--devnet-port 29000 --master-port 28443 --webhook-port 29443
	--apiserver-port 26443 --agent-api-port 28080)
log="$(mktemp)"
trap '"${launcher}" --state-dir "${state}" reset >/dev/null 2>&1 || :; rm -f "${log}"' EXIT

# Starts the stack in the background and prints the seconds until ready.
up() {
	local start end
	start="$(date +%s.%N)"
	"${launcher}" --state-dir "${state}" up --no-console --agents 3 "${ports[@]}" >"${log}" 2>&1 &
	until grep -q '^ready in ' "${log}"; do
		if ! kill -0 "$!" 2>/dev/null; then
			echo "daas-local up failed:" >&2
			cat "${log}" >&2
			exit 1
		fi
		sleep 0.1
	done
	end="$(date +%s.%N)"
	echo "${end} - ${start}" | bc
}

for i in $(seq 1 "${runs}"); do
	"${launcher}" --state-dir "${state}" reset >/dev/null
	echo "cold ${i}: $(up) s"
	"${launcher}" --state-dir "${state}" down >/dev/null
	echo "warm ${i}: $(up) s"
	"${launcher}" --state-dir "${state}" down >/dev/null
done
