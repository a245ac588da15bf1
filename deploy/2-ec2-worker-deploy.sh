#!/usr/bin/env bash
# Step 2 of the deployment guide: put a worker on an EC2 instance (or any
# SSH-reachable Linux machine): copy daas-agent, its worker-config.yaml, the
# wallet passphrase (as a systemd credential) and the k3s binary, then run
# deploy/worker/install.sh there, which installs the systemd unit and starts
# the agent. The agent stakes, registers with the attested master and runs
# `k3s agent`.
#
# Usage: deploy/2-ec2-worker-deploy.sh --config worker-config.yaml
#          --passphrase-file FILE --wallet FILE
#          (--host USER@ADDRESS | --launch --ami AMI --instance-type TYPE --key-name NAME)
#          [--agent-bin PATH] [--k3s-bin PATH] [--dry-run]
#   --launch  start a new instance with the AWS CLI (needs AWS credentials)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

config="" passphrase_file="" wallet="" host="" launch=0 ami="" instance_type="" key_name=""
agent_bin="${REPO_ROOT}/target/release/daas-agent"
k3s_bin=""
while (($#)); do
	case "$1" in
	--config) need_value "$@"; config="$2"; shift 2 ;;
	--passphrase-file) need_value "$@"; passphrase_file="$2"; shift 2 ;;
	--wallet) need_value "$@"; wallet="$2"; shift 2 ;;
	--host) need_value "$@"; host="$2"; shift 2 ;;
	--launch) launch=1; shift ;;
	--ami) need_value "$@"; ami="$2"; shift 2 ;;
	--instance-type) need_value "$@"; instance_type="$2"; shift 2 ;;
	--key-name) need_value "$@"; key_name="$2"; shift 2 ;;
	--agent-bin) need_value "$@"; agent_bin="$2"; shift 2 ;;
	--k3s-bin) need_value "$@"; k3s_bin="$2"; shift 2 ;;
	--dry-run) DRY_RUN=1; shift ;;
	-h | --help)
		print_help
		exit 0
		;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
done
[[ -n "${config}" ]] || die "--config worker-config.yaml is required (template: deploy/worker/worker-config.yaml)"
[[ -n "${passphrase_file}" ]] || die "--passphrase-file is required: the wallet's passphrase, installed as a systemd credential"
[[ -n "${wallet}" ]] || die "--wallet is required: the agent's encrypted wallet file"
if ((launch)); then
	[[ -z "${host}" ]] || die "give --host or --launch, not both"
	[[ -n "${ami}" && -n "${instance_type}" && -n "${key_name}" ]] || die "--launch needs --ami, --instance-type and --key-name"
else
	[[ -n "${host}" ]] || die "--host USER@ADDRESS or --launch is required"
fi

need ssh "copies and installs the worker (Debian: openssh-client)"
need scp "copies the worker's files (Debian: openssh-client)"
need_file "${config}" "the worker's configuration"
need_file "${passphrase_file}" "the wallet passphrase"
need_file "${wallet}" "the agent's wallet"
need_file "${agent_bin}" "daas-agent (cargo build --release -p daas-agent)"
[[ -z "${k3s_bin}" ]] || need_file "${k3s_bin}" "the k3s binary"
[[ -z "${passphrase_file}" || ! -f "${passphrase_file}" ]] ||
	[[ "$(stat -c %a "${passphrase_file}")" =~ ^[4-7]00$ ]] ||
	die "${passphrase_file} is readable by others (mode $(stat -c %a "${passphrase_file}")): chmod 600 it"

if ((launch)); then
	need aws "the AWS CLI launches the instance"
	if ! ((DRY_RUN)) && ! aws sts get-caller-identity >/dev/null 2>&1; then
		die "no AWS credentials: aws sts get-caller-identity failed (aws configure, or AWS_PROFILE)"
	fi
	log "launching a ${instance_type} instance from ${ami}"
	if ((DRY_RUN)); then
		run aws ec2 run-instances --image-id "${ami}" --instance-type "${instance_type}" --key-name "${key_name}" --count 1
		host="admin@INSTANCE-ADDRESS"
	else
		instance="$(aws ec2 run-instances --image-id "${ami}" --instance-type "${instance_type}" \
			--key-name "${key_name}" --count 1 --query 'Instances[0].InstanceId' --output text)"
		aws ec2 wait instance-running --instance-ids "${instance}"
		address="$(aws ec2 describe-instances --instance-ids "${instance}" \
			--query 'Reservations[0].Instances[0].PublicIpAddress' --output text)"
		host="admin@${address}"
		log "instance ${instance} runs at ${address}"
	fi
fi

stage="/tmp/k3s-daas-worker"
files=("${agent_bin}" "${config}" "${wallet}" "${REPO_ROOT}/deploy/worker/install.sh" "${REPO_ROOT}/deploy/worker/daas-agent.service")
[[ -z "${k3s_bin}" ]] || files+=("${k3s_bin}")
log "copying the worker to ${host}:${stage}"
run ssh "${host}" "install -d -m 0700 ${stage}"
run scp -q "${files[@]}" "${host}:${stage}/"
# The passphrase travels on stdin, never in argv.
if ((DRY_RUN)); then
	run ssh "${host}" "umask 077 && cat > ${stage}/wallet-passphrase"
else
	# shellcheck disable=SC2029 # ${stage} is this script's, expanded here on purpose
	ssh "${host}" "umask 077 && cat > ${stage}/wallet-passphrase" <"${passphrase_file}"
fi
run ssh "${host}" "sudo ${stage}/install.sh --from ${stage}"
log "installed; follow it with: ssh ${host} journalctl -u daas-agent -f"
