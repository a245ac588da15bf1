#!/usr/bin/env bash
# Build the Kubernetes control plane and the worker-node runtime that the
# end-to-end tests and the local stack run, from Go modules pinned in this
# directory, into a cache outside the repository. See deploy/k3s/README.md for
# why this is upstream Kubernetes plus kine and containerd rather than K3s.
#
# Usage: deploy/k3s/build.sh [all|control-plane|kwok|node] [--print-dir]
#
#   all            (default) the control plane, kwok and the node runtime
#   control-plane  kube-apiserver, kube-controller-manager, kube-scheduler,
#                  kubectl (k8s.io/kubernetes) and kine (SQLite etcd shim)
#   kwok           sigs.k8s.io/kwok/cmd/kwok
#   node           kubelet (k8s.io/kubernetes), containerd, its runc shim and
#                  ctr (github.com/containerd/containerd/v2), and the pause and
#                  busybox images as OCI archives (no registry needed)
#   --print-dir    print only the directory of stable links on stdout
#
# Output:
#   ${XDG_CACHE_HOME:-~/.cache}/k3s-daas/kubernetes-<version>/{kube-apiserver,...}
#   ${XDG_CACHE_HOME:-~/.cache}/k3s-daas/kine-<version>/kine
#   ${XDG_CACHE_HOME:-~/.cache}/k3s-daas/kwok-<version>/kwok
#   ${XDG_CACHE_HOME:-~/.cache}/k3s-daas/kubelet-<version>/kubelet
#   ${XDG_CACHE_HOME:-~/.cache}/k3s-daas/containerd-<version>/{containerd,containerd-shim-runc-v2,ctr}
#   ${XDG_CACHE_HOME:-~/.cache}/k3s-daas/node-images-<version>/{pause,busybox}.oci.tar
#   ${XDG_CACHE_HOME:-~/.cache}/k3s-daas/bin/   stable links to the above; the
#                                              test harness looks here first
#
# A component whose versioned directory is complete is not rebuilt, so a
# second run costs a few milliseconds. Prerequisites (Debian): golang >= 1.26.6
# on PATH (the machine's Go), gcc and libc6-dev (cgo, for kine's SQLite, and
# the static pause binary), the Go module proxy, and for the node the packages
# runc, containernetworking-plugins and busybox-static (deploy/dev/setup.sh
# installs them).
#
# Environment:
#   XDG_CACHE_HOME  cache root (default ~/.cache)
#   DAAS_BUILD_TIME set to 1 to run each go build under /usr/bin/time -v
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# Pinned versions. They must agree with the go.mod files next to this script.
KUBERNETES_VERSION="v1.37.2"
KINE_VERSION="v0.17.5"
KWOK_VERSION="v0.8.0"
CONTAINERD_VERSION="v2.4.2"
# The pause image's version at KUBERNETES_VERSION (build/pause/Makefile's TAG),
# and the names the node's images are imported under. The harness
# (tests/src/node.rs) uses the same names.
PAUSE_VERSION="3.10.2"
PAUSE_IMAGE="localhost/k3s-daas/pause:${PAUSE_VERSION}"
BUSYBOX_IMAGE_REPO="localhost/k3s-daas/busybox"
# Oldest Go that every pinned module accepts (containerd's go.mod says go 1.26.6).
GO_MIN="1.26.6"

die() {
	echo "deploy/k3s/build.sh: error: $*" >&2
	exit 1
}
log() {
	if [[ "${print_dir}" != 1 ]]; then
		echo "deploy/k3s/build.sh: $*" >&2
	fi
}

what="all"
print_dir=0
for arg in "$@"; do
	case "${arg}" in
	all | control-plane | kwok | node) what="${arg}" ;;
	--print-dir) print_dir=1 ;;
	-h | --help)
		print_help
		exit 0
		;;
	*) die "unknown argument '${arg}' (expected all, control-plane, kwok, node or --print-dir)" ;;
	esac
done

cache_root="${XDG_CACHE_HOME:-${HOME:?HOME is not set and XDG_CACHE_HOME is empty}/.cache}/k3s-daas"
bin_dir="${cache_root}/bin"

check_go() {
	command -v go >/dev/null 2>&1 || die "go is not on PATH; install Go >= ${GO_MIN}"
	local have
	have="$(go env GOVERSION)"
	have="${have#go}"
	if [[ "$(printf '%s\n%s\n' "${GO_MIN}" "${have}" | sort -V | head -n1)" != "${GO_MIN}" ]]; then
		die "Go ${have} is too old; the pinned modules need Go >= ${GO_MIN}"
	fi
}

# use_private_go_caches: point Go's build and module caches at a directory
# that is removed when this script ends. Each component is built once per
# version and kept in its own directory, so the caches (several GB) would
# only fill the disk, which CI shares with the Rust build; one run's builds
# still share them (the kubelet reuses the control plane's packages).
go_tmp=""
use_private_go_caches() {
	[[ -z "${go_tmp}" ]] || return 0
	go_tmp="$(mktemp -d "${cache_root}/.go.XXXXXX")"
	trap 'rm -rf "${go_tmp}"' EXIT
	# -modcacherw: the module cache is read-only by default, so rm could not remove it.
	export GOCACHE="${go_tmp}/build" GOMODCACHE="${go_tmp}/mod" GOFLAGS="${GOFLAGS:+${GOFLAGS} }-modcacherw"
}

# run_build DIR LOGNAME CMD...: run a build command, optionally under time -v.
run_build() {
	local name="$1"
	shift
	if [[ "${DAAS_BUILD_TIME:-0}" == 1 ]]; then
		[[ -x /usr/bin/time ]] || die "DAAS_BUILD_TIME=1 needs /usr/bin/time (apt-get install time)"
		/usr/bin/time -v -o "${cache_root}/${name}.time" "$@"
		log "resource usage of the ${name} build: ${cache_root}/${name}.time"
		grep -E 'Elapsed|Maximum resident' "${cache_root}/${name}.time" >&2 || true
	else
		"$@"
	fi
}

# install_dir NAME VERSION BUILDFN: build into a temporary directory next to
# the final one and rename it into place, so that an interrupted build never
# leaves a directory that looks complete.
install_dir() {
	local name="$1" version="$2" buildfn="$3"
	local dest="${cache_root}/${name}-${version}"
	if [[ -f "${dest}/.complete" ]]; then
		log "${name} ${version}: cached in ${dest}"
		return 0
	fi
	check_go
	use_private_go_caches
	local tmp
	tmp="$(mktemp -d "${cache_root}/.${name}-${version}.XXXXXX")"
	chmod 755 "${tmp}"
	log "${name} ${version}: building into ${dest} (the first build takes minutes)"
	if ! "${buildfn}" "${tmp}" >&2; then
		rm -rf "${tmp}"
		die "building ${name} ${version} failed (see the go output above)"
	fi
	date -u +%Y-%m-%dT%H:%M:%SZ >"${tmp}/.complete"
	rm -rf "${dest}"
	mv "${tmp}" "${dest}"
	log "${name} ${version}: done"
}

# kubernetes_ldflags: the version variables of k8s.io/client-go/pkg/version
# and k8s.io/component-base/version (as upstream's hack/lib/version.sh sets
# them), with the release's own time from the module proxy so that rebuilds
# are identical.
kubernetes_ldflags() {
	local build_date
	build_date="$(cd "${here}/kubernetes" && go list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes)"
	local minor="${KUBERNETES_VERSION#v1.}"
	minor="${minor%%.*}"
	local ldflags="-s -w"
	local pkg
	for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
		ldflags+=" -X ${pkg}.gitVersion=${KUBERNETES_VERSION}"
		ldflags+=" -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor}"
		ldflags+=" -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=${build_date}"
	done
	echo "${ldflags}"
}

build_kubernetes() {
	local out="$1"
	local ldflags
	ldflags="$(kubernetes_ldflags)"
	# Upstream's hack/lib/golang.sh: static, trimmed, tags selinux,notest,grpcnotrace.
	(cd "${here}/kubernetes" && run_build kubernetes \
		env CGO_ENABLED=0 GOTOOLCHAIN=local go build -trimpath -buildvcs=false -tags selinux,notest,grpcnotrace -ldflags "${ldflags}" -o "${out}/" \
		k8s.io/kubernetes/cmd/kube-apiserver \
		k8s.io/kubernetes/cmd/kube-controller-manager \
		k8s.io/kubernetes/cmd/kube-scheduler \
		k8s.io/kubernetes/cmd/kubectl)
}

build_kubelet() {
	local out="$1"
	local ldflags
	ldflags="$(kubernetes_ldflags)"
	# The control plane's flags, from the same module, so the Go build cache
	# it warmed is reused. Static (CGO_ENABLED=0) as K3s links it; upstream's
	# release kubelet is the one binary built with cgo, which it does not need.
	(cd "${here}/kubernetes" && run_build kubelet \
		env CGO_ENABLED=0 GOTOOLCHAIN=local go build -trimpath -buildvcs=false -tags selinux,notest,grpcnotrace -ldflags "${ldflags}" -o "${out}/" \
		k8s.io/kubernetes/cmd/kubelet)
}

build_kine() {
	local out="$1"
	command -v gcc >/dev/null 2>&1 || die "gcc is not on PATH; kine needs cgo for SQLite (apt-get install gcc libc6-dev)"
	local ldflags="-s -w -X github.com/k3s-io/kine/pkg/version.Version=${KINE_VERSION}"
	# kine's scripts/build: cgo SQLite with these CFLAGS.
	(cd "${here}/kine" && run_build kine \
		env CGO_ENABLED=1 GOTOOLCHAIN=local CGO_CFLAGS="-DSQLITE_ENABLE_DBSTAT_VTAB=1 -DSQLITE_USE_ALLOCA=1" go build -trimpath -buildvcs=false -ldflags "${ldflags}" -o "${out}/kine" github.com/k3s-io/kine)
}

build_kwok() {
	local out="$1"
	local ldflags="-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION}"
	(cd "${here}/kwok" && run_build kwok \
		env CGO_ENABLED=0 GOTOOLCHAIN=local go build -trimpath -buildvcs=false -ldflags "${ldflags}" -o "${out}/kwok" sigs.k8s.io/kwok/cmd/kwok)
}

build_containerd() {
	local out="$1"
	local pkg=github.com/containerd/containerd/v2
	local ldflags="-s -w -X ${pkg}/version.Version=${CONTAINERD_VERSION} -X ${pkg}/version.Package=${pkg}"
	# containerd's Makefile: tag urfave_cli_no_docs, and no_grpc for the shim,
	# which is static. Static throughout (no cgo, so no btrfs snapshotter; the
	# node uses overlayfs).
	(cd "${here}/containerd" && run_build containerd \
		env CGO_ENABLED=0 GOTOOLCHAIN=local go build -trimpath -buildvcs=false -tags urfave_cli_no_docs -ldflags "${ldflags}" -o "${out}/" \
		"${pkg}/cmd/containerd" "${pkg}/cmd/ctr" && run_build containerd-shim \
		env CGO_ENABLED=0 GOTOOLCHAIN=local go build -trimpath -buildvcs=false -tags urfave_cli_no_docs,no_grpc -ldflags "${ldflags}" -o "${out}/" \
		"${pkg}/cmd/containerd-shim-runc-v2")
}

# busybox_version: the upstream version of Debian's busybox-static, which the
# busybox image is made of; it names the images' cache directory.
busybox_version() {
	local version
	version="$(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null)" ||
		die "the Debian package busybox-static is not installed (run deploy/dev/setup.sh, or apt-get install busybox-static)"
	version="${version#*:}"
	echo "${version%%-*}"
}

# build_node_images OUT: the pause image (upstream's pause.c from the pinned
# k8s.io/kubernetes module, compiled static as its Makefile does) and a busybox
# image (Debian's static busybox with a link per applet), as OCI archives.
build_node_images() {
	local out="$1"
	command -v gcc >/dev/null 2>&1 || die "gcc is not on PATH; the pause image is compiled from C (apt-get install gcc libc6-dev)"
	local busybox=/bin/busybox
	"${busybox}" --list >/dev/null 2>&1 || die "${busybox} is missing (apt-get install busybox-static)"
	local kubernetes_src rootfs
	# `go mod download`, not `go list -m`: the private module cache may not
	# hold the module yet when the kubelet was already built.
	kubernetes_src="$(cd "${here}/kubernetes" && go mod download -json k8s.io/kubernetes |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
	[[ -d "${kubernetes_src}" ]] || die "could not download k8s.io/kubernetes for the pause image's source"
	rootfs="$(mktemp -d)"
	mkdir -p "${rootfs}/pause" "${rootfs}/busybox/bin" "${rootfs}/busybox/etc" "${rootfs}/busybox/tmp"
	gcc -Os -Wall -Werror -static "-DVERSION=v${PAUSE_VERSION}-${KUBERNETES_VERSION}" \
		-o "${rootfs}/pause/pause" "${kubernetes_src}/build/pause/linux/pause.c"
	strip "${rootfs}/pause/pause"
	"${here}/oci-image.sh" "${out}/pause.oci.tar" "${PAUSE_IMAGE}" "${rootfs}/pause" \
		'{"User":"65535:65535","Entrypoint":["/pause"]}'

	cp "${busybox}" "${rootfs}/busybox/bin/busybox"
	local applet
	for applet in $("${busybox}" --list); do
		[[ "${applet}" == busybox ]] || ln -s busybox "${rootfs}/busybox/bin/${applet}"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"${rootfs}/busybox/etc/passwd"
	printf 'root:x:0:\nnobody:x:65534:\n' >"${rootfs}/busybox/etc/group"
	chmod 1777 "${rootfs}/busybox/tmp"
	"${here}/oci-image.sh" "${out}/busybox.oci.tar" "${BUSYBOX_IMAGE_REPO}:$(busybox_version)" "${rootfs}/busybox" \
		'{"Cmd":["sh"],"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}'
	rm -rf "${rootfs}"
}

# check_node_packages: the node's runtime parts that come from Debian.
check_node_packages() {
	local missing=()
	command -v runc >/dev/null 2>&1 || missing+=(runc)
	[[ -x /usr/lib/cni/ptp && -x /usr/lib/cni/host-local && -x /usr/lib/cni/loopback ]] ||
		missing+=(containernetworking-plugins)
	[[ -x /bin/busybox ]] || missing+=(busybox-static)
	((${#missing[@]} == 0)) ||
		die "the node needs the Debian packages ${missing[*]} (run deploy/dev/setup.sh, or apt-get install ${missing[*]})"
}

link() {
	local target="$1" name="$2"
	ln -sfn "${target}" "${bin_dir}/${name}.tmp"
	mv -fT "${bin_dir}/${name}.tmp" "${bin_dir}/${name}"
}

mkdir -p "${cache_root}" "${bin_dir}"
# One build at a time per cache: a second run waits, then finds the cache full.
exec 9>"${cache_root}/.build.lock"
flock 9

if [[ "${what}" == all || "${what}" == control-plane ]]; then
	install_dir kubernetes "${KUBERNETES_VERSION}" build_kubernetes
	install_dir kine "${KINE_VERSION}" build_kine
	for b in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
		link "../kubernetes-${KUBERNETES_VERSION}/${b}" "${b}"
	done
	link "../kine-${KINE_VERSION}/kine" kine
fi
if [[ "${what}" == all || "${what}" == kwok ]]; then
	install_dir kwok "${KWOK_VERSION}" build_kwok
	link "../kwok-${KWOK_VERSION}/kwok" kwok
fi
if [[ "${what}" == all || "${what}" == node ]]; then
	check_node_packages
	install_dir kubelet "${KUBERNETES_VERSION}" build_kubelet
	install_dir containerd "${CONTAINERD_VERSION}" build_containerd
	images_version="pause-${PAUSE_VERSION}-busybox-$(busybox_version)"
	install_dir node-images "${images_version}" build_node_images
	link "../kubelet-${KUBERNETES_VERSION}/kubelet" kubelet
	for b in containerd containerd-shim-runc-v2 ctr; do
		link "../containerd-${CONTAINERD_VERSION}/${b}" "${b}"
	done
	for image in pause busybox; do
		link "../node-images-${images_version}/${image}.oci.tar" "${image}.oci.tar"
	done
fi

if [[ "${print_dir}" == 1 ]]; then
	echo "${bin_dir}"
else
	log "binaries are linked in ${bin_dir}"
fi
