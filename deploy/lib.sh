#!/usr/bin/env bash
# Shared by the deployment scripts (deploy/[1-4]-*.sh, deploy-all.sh):
# messages, prerequisite checks and the --dry-run runner; and, for them and
# the developer scripts (deploy/dev/setup.sh, up.sh, deploy/k3s/build.sh),
# --help; for up.sh and deploy/local/bench.sh, the workspace's build.
# Sourced, never run.

# The script's name for messages.
DEPLOY_NAME="$(basename "${0}")"
# 1 when --dry-run was given: print every command instead of running it, and
# report missing prerequisites instead of stopping on them.
DRY_RUN="${DRY_RUN:-0}"
# The repository root.
# shellcheck disable=SC2034 # used by the scripts that source this file
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { printf '%s: %s\n' "${DEPLOY_NAME}" "$*" >&2; }

# print_help: the running script's usage, the comment block at its top
# without the `# `.
print_help() {
	awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"
}
die() {
	log "error: $*"
	exit 1
}

# need CMD WHAT: stop (or, in a dry run, warn) when CMD is not on PATH.
need() {
	local cmd="$1" what="$2"
	command -v "${cmd}" >/dev/null 2>&1 && return 0
	if ((DRY_RUN)); then
		log "prerequisite missing (a real run stops here): ${cmd} — ${what}"
	else
		die "prerequisite missing: ${cmd} — ${what}"
	fi
}

# need_file PATH WHAT: the same for a file.
need_file() {
	local path="$1" what="$2"
	[[ -f "${path}" ]] && return 0
	if ((DRY_RUN)); then
		log "prerequisite missing (a real run stops here): ${path} — ${what}"
	else
		die "prerequisite missing: ${path} — ${what}"
	fi
}

# build_binaries: every binary of the workspace, in one debug build whose
# features are resolved with the dev-dependencies (`--examples`: the
# workspace has none), as `cargo test --workspace` and the tests' own build
# (deploy/local/src/binaries.rs, BUILD_ARGS) resolve them: each reuses what
# the others built instead of rebuilding 47 crates with other features.
build_binaries() {
	cargo build -q --workspace --bins --examples
}

# run CMD...: run a command, or print it in a dry run.
run() {
	if ((DRY_RUN)); then
		printf '[dry-run]' >&2
		printf ' %q' "$@" >&2
		printf '\n' >&2
	else
		"$@"
	fi
}

# need_value FLAG VALUE: a flag's value must follow it.
need_value() {
	[[ $# -ge 2 && -n "$2" && "$2" != --* ]] || die "$1 needs a value"
}
