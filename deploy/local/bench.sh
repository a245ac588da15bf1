#!/usr/bin/env bash
# Times `daas-local up` from the command to a usable stack (its "ready in"
# line: the real node Ready, the dev enclave registered, the console profile
# written), cold (empty state directory, binaries built) and warm (`down`,
# then `up` on the kept state), RUNS times each. Uses a temporary state
# directory and the ports below, and resets the stack at the end.
#
# With --nothing-built, times the README's first command instead,
# `deploy/dev/up.sh`, once, from nothing built: a fresh CARGO_TARGET_DIR
# (target-cold/ in the checkout, deleted afterwards) and an empty state
# directory, to the same "ready in" line. Its setup check runs as for a new
# user; the control-plane and node binaries it caches (~/.cache/k3s-daas)
# are kept. Prints the load average at the start and at the end.
#
# Usage: deploy/local/bench.sh [RUNS]          (default 2)
#        deploy/local/bench.sh --nothing-built
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
nothing_built=0
runs=2
case "${1:-}" in
--nothing-built) nothing_built=1 ;;
'') ;;
*) runs="$1" ;;
esac
state="$(mktemp -d)/state"
ports=(--devnet-port 29000 --master-port 28443 --webhook-port 29443
	--apiserver-port 26443 --agent-api-port 28080)
log="$(mktemp)"
if [[ "${nothing_built}" == 1 ]]; then
	export CARGO_TARGET_DIR="${PWD}/target-cold"
	rm -rf "${CARGO_TARGET_DIR}"
fi
launcher="${CARGO_TARGET_DIR:-target}/debug/daas-local"
cleanup() {
	if [[ -x "${launcher}" ]]; then
		"${launcher}" --state-dir "${state}" reset >/dev/null 2>&1 || :
	fi
	rm -f "${log}"
	if [[ "${nothing_built}" == 1 ]]; then
		rm -rf "${CARGO_TARGET_DIR}"
	fi
}
trap cleanup EXIT

# Runs COMMAND... in the background and prints the seconds until its
# output says the stack is ready.
time_to_ready() {
	local start end
	start="$(date +%s.%N)"
	"$@" >"${log}" 2>&1 &
	until grep -q '^ready in ' "${log}"; do
		if ! kill -0 "$!" 2>/dev/null; then
			echo "$* failed:" >&2
			cat "${log}" >&2
			exit 1
		fi
		sleep 0.1
	done
	end="$(date +%s.%N)"
	echo "${end} - ${start}" | bc
}

up() {
	time_to_ready "${launcher}" --state-dir "${state}" up --no-console --agents 3 "${ports[@]}"
}

if [[ "${nothing_built}" == 1 ]]; then
	echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
	seconds="$(time_to_ready deploy/dev/up.sh --state-dir "${state}" --no-console --agents 3 "${ports[@]}")"
	echo "nothing built: ${seconds} s (deploy/dev/up.sh to ready)"
	echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
	"${launcher}" --state-dir "${state}" down >/dev/null
	exit 0
fi

build_binaries
for i in $(seq 1 "${runs}"); do
	"${launcher}" --state-dir "${state}" reset >/dev/null
	echo "cold ${i}: $(up) s"
	"${launcher}" --state-dir "${state}" down >/dev/null
	echo "warm ${i}: $(up) s"
	"${launcher}" --state-dir "${state}" down >/dev/null
done
