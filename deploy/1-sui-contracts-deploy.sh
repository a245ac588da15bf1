#!/usr/bin/env bash
# Step 1 of the deployment guide: publish the Move package `k3s_daas`
# (contracts/move) with the Sui CLI, then record the package id and the ids
# of the objects its `init` functions created (StakePool, AdminCap,
# SlasherCap, EnclaveCap) in deploy/out/NETWORK/chain.env and in the configs
# rendered from the templates (nautilus-config.yaml, worker-config.yaml).
#
# Usage: deploy/1-sui-contracts-deploy.sh [--network testnet|mainnet]
#          [--gas-budget MIST] [--publish-json FILE] [--out DIR] [--dry-run]
#   --publish-json FILE  record the ids from an earlier `sui client publish
#                        --json` output instead of publishing again
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

network=testnet
gas_budget=500000000
publish_json=""
out=""
while (($#)); do
	case "$1" in
	--network) need_value "$@"; network="$2"; shift 2 ;;
	--gas-budget) need_value "$@"; gas_budget="$2"; shift 2 ;;
	--publish-json) need_value "$@"; publish_json="$2"; shift 2 ;;
	--out) need_value "$@"; out="$2"; shift 2 ;;
	--dry-run) DRY_RUN=1; shift ;;
	-h | --help)
		print_help
		exit 0
		;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
done
case "${network}" in
testnet) rpc="https://fullnode.testnet.sui.io:443" ;;
mainnet) rpc="https://fullnode.mainnet.sui.io:443" ;;
*) die "--network must be testnet or mainnet, not ${network} (the devnet publishes the package at genesis)" ;;
esac
[[ "${gas_budget}" =~ ^[0-9]+$ ]] || die "--gas-budget must be a number of MIST, not ${gas_budget}"
out="${out:-${REPO_ROOT}/deploy/out/${network}}"

need python3 "renders the configs (Debian: python3)"
if [[ -z "${publish_json}" ]]; then
	need sui "the Sui CLI publishes the package (https://docs.sui.io/guides/developer/getting-started/sui-install)"
	publish_json="${out}/publish.json"
	run mkdir -p "${out}"
	log "publishing contracts/move to ${network} (gas budget ${gas_budget} MIST)"
	if ((DRY_RUN)); then
		run sui client publish --json --gas-budget "${gas_budget}" "${REPO_ROOT}/contracts/move"
	else
		active="$(sui client active-env 2>/dev/null || true)"
		[[ "${active}" == "${network}" ]] || die "the Sui CLI's active environment is '${active}', not ${network}: run sui client switch --env ${network}"
		sui client publish --json --gas-budget "${gas_budget}" "${REPO_ROOT}/contracts/move" >"${publish_json}"
	fi
else
	need_file "${publish_json}" "the output of sui client publish --json"
fi

((DRY_RUN)) && {
	log "would record the ids in ${out}/chain.env and render ${out}/nautilus-config.yaml and ${out}/worker-config.yaml"
	exit 0
}
mkdir -p "${out}"
python3 "${REPO_ROOT}/deploy/record_ids.py" --network "${network}" --rpc "${rpc}" \
	--publish-json "${publish_json}" --out "${out}" \
	--template "${REPO_ROOT}/deploy/nautilus/nautilus-config.yaml" \
	--template "${REPO_ROOT}/deploy/worker/worker-config.yaml"
log "recorded: ${out}/chain.env; next: deploy/3-nautilus-tee-deploy.sh --config ${out}/nautilus-config.yaml"
