#!/usr/bin/env bash
# Step 4 of the deployment guide: check a running deployment from outside,
# as a user would, with daas-console, curl and kubectl. Works against any
# deployment (the local stack in CI, an enclave on AWS):
#   1. the master answers /healthz over TLS 1.3;
#   2. its attestation verifies (expected PCRs, or the dev root of a local stack);
#   3. /readyz: chain, API server and event follower ready;
#   4. /openapi.json lists the seed's endpoints;
#   5. /api/v1/node-health answers;
#   6. the chain answers (stake status of an address);
#   7. with --faucet (devnet) or --wallet-dir (a funded wallet): a new viewer
#      stakes, gets a kubeconfig, `kubectl get pods` works, unstakes, and
#      `kubectl` is refused.
#
# Usage: deploy/4-system-integration-test.sh --master URL --chain URL
#          (--expect-pcrs pcrs.json | --dev-root PEM)
#          [--faucet | --wallet-dir DIR --passphrase-file FILE]
#          [--console PATH] [--dry-run]
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

master="" chain="" pcrs="" dev_root="" faucet=0 wallet_dir="" passphrase_file="" console=""
while (($#)); do
	case "$1" in
	--master) need_value "$@"; master="$2"; shift 2 ;;
	--chain) need_value "$@"; chain="$2"; shift 2 ;;
	--expect-pcrs) need_value "$@"; pcrs="$2"; shift 2 ;;
	--dev-root) need_value "$@"; dev_root="$2"; shift 2 ;;
	--faucet) faucet=1; shift ;;
	--wallet-dir) need_value "$@"; wallet_dir="$2"; shift 2 ;;
	--passphrase-file) need_value "$@"; passphrase_file="$2"; shift 2 ;;
	--console) need_value "$@"; console="$2"; shift 2 ;;
	--dry-run) DRY_RUN=1; shift ;;
	-h | --help)
		print_help
		exit 0
		;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
done
[[ "${master}" == https://* ]] || die "--master https://HOST:PORT is required"
[[ -n "${chain}" ]] || die "--chain URL (the Sui full node's gRPC endpoint) is required"
[[ -n "${pcrs}" || -n "${dev_root}" ]] || die "give --expect-pcrs pcrs.json (from 3-nautilus-tee-deploy.sh) or --dev-root PEM (a local stack)"
[[ -z "${wallet_dir}" || -n "${passphrase_file}" ]] || die "--wallet-dir needs --passphrase-file"
if [[ -z "${console}" ]]; then
	console="$(command -v daas-console || echo "${REPO_ROOT}/target/debug/daas-console")"
fi

need curl "talks to the master (Debian: curl)"
need kubectl "the user step uses kubectl"
need python3 "reads JSON answers"
need_file "${console}" "daas-console (cargo build -p daas-console)"
[[ -z "${pcrs}" ]] || need_file "${pcrs}" "the enclave's PCRs"
[[ -z "${dev_root}" ]] || need_file "${dev_root}" "the local master's dev root"

home="$(mktemp -d)"
trap 'rm -rf "${home}"' EXIT
export HOME="${home}" XDG_CONFIG_HOME="${home}/config" XDG_DATA_HOME="${home}/data" \
	XDG_CACHE_HOME="${home}/cache" KUBECONFIG="${home}/kubeconfig"
trust=()
if [[ -n "${pcrs}" ]] && ! ((DRY_RUN)); then
	while IFS= read -r pcr; do trust+=(--expect-pcr "${pcr}"); done < <(python3 -c '
import json, sys
for name, value in sorted(json.load(open(sys.argv[1])).items()):
    print(f"{name.removeprefix(\"PCR\")}={value}")' "${pcrs}")
fi
global=(--master "${master}" --chain "${chain}")
[[ -z "${dev_root}" ]] || global+=(--allow-insecure-dev --dev-root "${dev_root}")

passed=0
check() {
	local name="$1"
	shift
	if ((DRY_RUN)); then
		run "$@"
		return
	fi
	local output
	if output="$("$@" 2>&1)"; then
		passed=$((passed + 1))
		log "ok   ${name}"
	else
		log "FAIL ${name}"
		printf '%s\n' "${output}" >&2
		exit 1
	fi
}
# get PATH: the master's answer (self-signed attested key: trust comes from step 2).
get() { curl --silent --show-error --fail --insecure --tlsv1.3 --max-time 10 "${master}$1"; }
has() { python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if eval(sys.argv[1]) else 1)' "$1"; }
expect_json() {
	local path="$1" condition="$2"
	get "${path}" | has "${condition}"
}
console_run() { "${console}" "${global[@]}" "$@"; }

check "healthz" get /healthz
check "attestation verifies" console_run attest "${trust[@]}" --json
check "readyz" get /readyz
check "openapi lists the seed's endpoints" expect_json /openapi.json \
	'all(p in d["paths"] for p in ["/api/v1/register-worker","/api/v1/node-health","/api/v1/staking/status","/api/v1/attestation","/kubectl/config"])'
check "node-health answers" expect_json /api/v1/node-health '"nodes" in d'
check "chain answers" console_run stake status --owner 0x0000000000000000000000000000000000000000000000000000000000000001 --json

if ((faucet)) || [[ -n "${wallet_dir}" ]]; then
	if [[ -n "${wallet_dir}" ]]; then
		global+=(--wallet-dir "${wallet_dir}" --passphrase-file "${passphrase_file}")
	else
		passphrase_file="${home}/passphrase"
		(umask 077 && head -c 24 /dev/urandom | base64 >"${passphrase_file}")
		global+=(--passphrase-file "${passphrase_file}")
		check "new wallet" console_run wallet new --alias integration --store file
		check "faucet" console_run wallet faucet
	fi
	check "stake as a viewer" console_run stake --tier viewer --yes
	check "kubeconfig" console_run kubeconfig
	export DAAS_WALLET_PASSPHRASE_FILE="${passphrase_file}"
	check "kubectl get pods as the viewer" kubectl get pods --request-timeout=20s
	check "unstake" console_run stake unstake --yes
	refused() {
		local attempt
		for attempt in 1 2 3 4 5 6 7 8 9 10; do
			kubectl get pods --request-timeout=10s >/dev/null 2>&1 || return 0
			sleep "$((attempt > 5 ? 2 : 1))"
		done
		return 1
	}
	check "kubectl refused after unstake" refused
fi
((DRY_RUN)) || log "all ${passed} checks passed against ${master}"
