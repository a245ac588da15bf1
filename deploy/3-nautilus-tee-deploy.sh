#!/usr/bin/env bash
# Step 3 of the deployment guide, on the Nitro-enabled parent instance:
# build the enclave image (deploy/nautilus/Containerfile: K3s and
# daas-master), turn it into an EIF with nitro-cli, print and record its
# PCRs for the on-chain EnclaveConfig, run the enclave, and forward the
# parent's TCP port to the enclave's vsock with `daas-master proxy` (a
# systemd unit), which adds a PROXY v2 header naming each client.
#
# Usage: deploy/3-nautilus-tee-deploy.sh --config nautilus-config.yaml
#          [--k3s-bin PATH] [--master-bin PATH] [--cpu-count 2] [--memory 4096]
#          [--cid 16] [--port 6443] [--out DIR] [--dry-run]
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

config="" k3s_bin="" master_bin="${REPO_ROOT}/target/release/daas-master"
cpu_count=2 memory=4096 cid=16 port=6443 out="${REPO_ROOT}/deploy/out/enclave"
while (($#)); do
	case "$1" in
	--config) need_value "$@"; config="$2"; shift 2 ;;
	--k3s-bin) need_value "$@"; k3s_bin="$2"; shift 2 ;;
	--master-bin) need_value "$@"; master_bin="$2"; shift 2 ;;
	--cpu-count) need_value "$@"; cpu_count="$2"; shift 2 ;;
	--memory) need_value "$@"; memory="$2"; shift 2 ;;
	--cid) need_value "$@"; cid="$2"; shift 2 ;;
	--port) need_value "$@"; port="$2"; shift 2 ;;
	--out) need_value "$@"; out="$2"; shift 2 ;;
	--dry-run) DRY_RUN=1; shift ;;
	-h | --help)
		print_help
		exit 0
		;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
done
[[ -n "${config}" ]] || die "--config nautilus-config.yaml is required (from deploy/1-sui-contracts-deploy.sh)"
for number in cpu_count memory cid port; do
	[[ "${!number}" =~ ^[0-9]+$ ]] || die "--${number//_/-} must be a number, not ${!number}"
done

need nitro-cli "builds and runs the enclave (aws-nitro-enclaves-cli, on a Nitro-enabled EC2 instance)"
container=""
for candidate in docker podman; do
	command -v "${candidate}" >/dev/null 2>&1 && container="${candidate}" && break
done
[[ -n "${container}" ]] || { need docker "builds the enclave image (docker or podman)"; container=docker; }
need python3 "reads nitro-cli's measurements"
need_file "${config}" "the master's configuration"
need_file "${master_bin}" "daas-master (cargo build --release -p daas-master)"
[[ -n "${k3s_bin}" ]] || k3s_bin="$(command -v k3s || echo /usr/local/bin/k3s)"
need_file "${k3s_bin}" "the k3s binary (https://github.com/k3s-io/k3s/releases)"

context="${out}/image"
run mkdir -p "${context}"
run cp "${REPO_ROOT}/deploy/nautilus/Containerfile" "${REPO_ROOT}/deploy/nautilus/entrypoint.sh" "${context}/"
run cp "${k3s_bin}" "${master_bin}" "${context}/"
run cp "${config}" "${context}/nautilus-config.yaml"
run "${container}" build -t k3s-daas-master:latest -f "${context}/Containerfile" "${context}"

log "building the EIF"
if ((DRY_RUN)); then
	run nitro-cli build-enclave --docker-uri k3s-daas-master:latest --output-file "${out}/k3s-daas-master.eif"
else
	nitro-cli build-enclave --docker-uri k3s-daas-master:latest --output-file "${out}/k3s-daas-master.eif" >"${out}/build.json"
	python3 - "${out}/build.json" "${out}/pcrs.json" <<'PY'
import json, sys
measurements = json.load(open(sys.argv[1]))["Measurements"]
pcrs = {name: measurements[name].lower() for name in ("PCR0", "PCR1", "PCR2")}
json.dump(pcrs, open(sys.argv[2], "w"), indent=2)
for name, value in pcrs.items():
    print(f"{name}={value}")
PY
	log "PCRs recorded in ${out}/pcrs.json; put them on chain with the EnclaveCap: daas-console enclave config create --name NAME --pcrs ${out}/pcrs.json (a new image: enclave config update ID --pcrs …), then daas-console enclave register"
	log "and give them to clients: daas-console attest --expect-pcr 0=… --expect-pcr 1=… --expect-pcr 2=…"
fi

log "running the enclave (${cpu_count} CPUs, ${memory} MiB, CID ${cid})"
run nitro-cli run-enclave --cpu-count "${cpu_count}" --memory "${memory}" \
	--enclave-cid "${cid}" --eif-path "${out}/k3s-daas-master.eif"

log "forwarding tcp:0.0.0.0:${port} to vsock:${cid}:${port} with daas-master proxy"
unit=/etc/systemd/system/daas-master-proxy.service
run install -m 0755 "${master_bin}" /usr/local/bin/daas-master
if ((DRY_RUN)); then
	log "would write ${unit} and enable it"
else
	cat >"${unit}" <<UNIT
[Unit]
Description=K3s-DaaS: TCP to the enclave master's vsock, with PROXY v2
After=network-online.target
Wants=network-online.target

[Service]
Type=exec
ExecStart=/usr/local/bin/daas-master proxy --listen tcp:0.0.0.0:${port} --to vsock:${cid}:${port}
Restart=always
DynamicUser=yes
AmbientCapabilities=CAP_NET_BIND_SERVICE

[Install]
WantedBy=multi-user.target
UNIT
	systemctl daemon-reload
	systemctl enable --now daas-master-proxy.service
fi
log "next: deploy/4-system-integration-test.sh --master https://THIS-HOST:${port} --expect-pcrs ${out}/pcrs.json"
