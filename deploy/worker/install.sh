#!/usr/bin/env bash
# Installs the K3s-DaaS worker agent as a systemd service:
#   /usr/local/bin/daas-agent                     the binary
#   /etc/daas-agent/worker-config.yaml            the configuration (kept if present)
#   /etc/daas-agent/wallet-passphrase             the wallet passphrase (0600, root)
#   /etc/systemd/system/daas-agent.service        the unit (LoadCredential of the passphrase)
# then reloads systemd and enables and starts the service.
#
# Usage: deploy/worker/install.sh --binary PATH [--config PATH]
#          [--passphrase-file PATH] [--root DIR] [--no-start] [--dry-run]
#   --binary PATH           the daas-agent executable to install (required)
#   --config PATH           a worker-config.yaml to install (default: the
#                           template next to this script, if none is installed)
#   --passphrase-file PATH  a file holding the wallet passphrase (copied 0600;
#                           the passphrase is never passed on a command line)
#   --root DIR              install under DIR instead of / (no systemctl)
#   --no-start              install only; do not enable or start the service
#   --dry-run               print what would be done; change nothing
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
binary=""
config=""
passphrase_file=""
root=""
start=1
dry_run=0

# The comment block above, without its `# `; then exits with status $1.
# (deploy/lib.sh's print_help, inline: this script runs alone on a worker.)
usage() {
	awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "${BASH_SOURCE[0]}" >&2
	exit "$1"
}

while (($#)); do
	case "$1" in
	--binary) binary="${2:-}"; shift 2 ;;
	--config) config="${2:-}"; shift 2 ;;
	--passphrase-file) passphrase_file="${2:-}"; shift 2 ;;
	--root) root="${2:-}"; shift 2 ;;
	--no-start) start=0; shift ;;
	--dry-run) dry_run=1; shift ;;
	-h | --help) usage 0 ;;
	*) echo "install.sh: unknown argument $1" >&2; usage 2 ;;
	esac
done

[[ -n "${binary}" ]] || { echo "install.sh: --binary PATH is required" >&2; exit 2; }
[[ -f "${binary}" && -x "${binary}" ]] || { echo "install.sh: ${binary} is not an executable file" >&2; exit 2; }
[[ -z "${config}" || -f "${config}" ]] || { echo "install.sh: config ${config} does not exist" >&2; exit 2; }
[[ -z "${passphrase_file}" || -f "${passphrase_file}" ]] || {
	echo "install.sh: passphrase file ${passphrase_file} does not exist" >&2
	exit 2
}

bin_dir="${root}/usr/local/bin"
etc_dir="${root}/etc/daas-agent"
unit_dir="${root}/etc/systemd/system"

# run CMD...: runs a command, or prints it with --dry-run.
run() {
	if ((dry_run)); then
		printf 'would run:'
		printf ' %q' "$@"
		printf '\n'
	else
		"$@"
	fi
}

run install -d -m 0755 "${bin_dir}" "${unit_dir}"
run install -d -m 0700 "${etc_dir}"
run install -m 0755 "${binary}" "${bin_dir}/daas-agent"
if [[ -n "${config}" ]]; then
	run install -m 0600 "${config}" "${etc_dir}/worker-config.yaml"
elif [[ ! -e "${etc_dir}/worker-config.yaml" ]]; then
	run install -m 0600 "${here}/worker-config.yaml" "${etc_dir}/worker-config.yaml"
	echo "install.sh: edit ${etc_dir}/worker-config.yaml (package, pool, master, PCRs, node id)" >&2
fi
if [[ -n "${passphrase_file}" ]]; then
	run install -m 0600 "${passphrase_file}" "${etc_dir}/wallet-passphrase"
fi
run install -m 0644 "${here}/daas-agent.service" "${unit_dir}/daas-agent.service"

if [[ -n "${root}" ]]; then
	echo "install.sh: installed under ${root}; systemd not touched" >&2
	exit 0
fi
run systemctl daemon-reload
if ((start)); then
	run systemctl enable --now daas-agent.service
else
	run systemctl enable daas-agent.service
fi
