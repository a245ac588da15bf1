#!/usr/bin/env bash
# The whole deployment guide in order: publish the package (1), start the
# enclave master (3), deploy the workers (2), and check it all (4). Run on
# the Nitro-enabled parent instance with the Sui CLI and AWS credentials.
#
# Usage: deploy/deploy-all.sh --network testnet|mainnet --k3s-bin PATH
#          --worker-config FILE --wallet FILE --passphrase-file FILE
#          --worker-host USER@ADDRESS [--worker-host ...] [--port 6443] [--dry-run]
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

network=testnet k3s_bin="" worker_config="" wallet="" passphrase_file="" port=6443
workers=() dry=()
while (($#)); do
	case "$1" in
	--network) need_value "$@"; network="$2"; shift 2 ;;
	--k3s-bin) need_value "$@"; k3s_bin="$2"; shift 2 ;;
	--worker-config) need_value "$@"; worker_config="$2"; shift 2 ;;
	--wallet) need_value "$@"; wallet="$2"; shift 2 ;;
	--passphrase-file) need_value "$@"; passphrase_file="$2"; shift 2 ;;
	--worker-host) need_value "$@"; workers+=("$2"); shift 2 ;;
	--port) need_value "$@"; port="$2"; shift 2 ;;
	--dry-run) DRY_RUN=1; dry=(--dry-run); shift ;;
	-h | --help)
		print_help
		exit 0
		;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
done
((${#workers[@]})) || die "at least one --worker-host USER@ADDRESS is required"
[[ -n "${worker_config}" && -n "${wallet}" && -n "${passphrase_file}" ]] ||
	die "--worker-config, --wallet and --passphrase-file are required (the workers' configuration and wallet)"
[[ -n "${k3s_bin}" ]] || die "--k3s-bin PATH is required (the k3s binary for the enclave image)"

here="$(dirname "${BASH_SOURCE[0]}")"
out="${REPO_ROOT}/deploy/out/${network}"
log "1/4 publish the package"
"${here}/1-sui-contracts-deploy.sh" --network "${network}" --out "${out}" "${dry[@]}"
log "3/4 the enclave master"
"${here}/3-nautilus-tee-deploy.sh" --config "${out}/nautilus-config.yaml" --k3s-bin "${k3s_bin}" \
	--port "${port}" --out "${out}/enclave" "${dry[@]}"
log "2/4 the workers"
for host in "${workers[@]}"; do
	"${here}/2-ec2-worker-deploy.sh" --config "${worker_config}" --wallet "${wallet}" \
		--passphrase-file "${passphrase_file}" --host "${host}" --k3s-bin "${k3s_bin}" "${dry[@]}"
done
log "4/4 check the deployment"
rpc="https://fullnode.${network}.sui.io:443"
"${here}/4-system-integration-test.sh" --master "https://$(hostname -f):${port}" --chain "${rpc}" \
	--expect-pcrs "${out}/enclave/pcrs.json" "${dry[@]}"
