#!/usr/bin/env bash
# Write a one-layer OCI image archive (an OCI image layout in a tar, what
# `ctr images import` reads) from a root filesystem directory, without Docker
# or a registry. build.sh uses it for the test node's pause and busybox images.
#
# Usage: deploy/k3s/oci-image.sh OUT.tar REFERENCE ROOTFS_DIR CONFIG_JSON
#
#   OUT.tar      the archive to write
#   REFERENCE    the image's full name, e.g. localhost/k3s-daas/pause:3.10.2
#   ROOTFS_DIR   the files of the image's single layer
#   CONFIG_JSON  the image config's "config" object (Entrypoint, Cmd, User,
#                Env ...), as JSON
#
# The output is byte-for-byte reproducible: files are sorted, owned by 0:0 and
# dated at the epoch, and the layer is an uncompressed tar (an OCI layer media
# type that containerd unpacks like any other).
set -euo pipefail

die() {
	echo "deploy/k3s/oci-image.sh: error: $*" >&2
	exit 1
}

(($# == 4)) || die "usage: oci-image.sh OUT.tar REFERENCE ROOTFS_DIR CONFIG_JSON"
out="$1" reference="$2" rootfs="$3" config="$4"
[[ -d "${rootfs}" ]] || die "root filesystem ${rootfs} is not a directory"
[[ "${reference}" == */*:* ]] || die "image reference '${reference}' must be a full name with a tag"
[[ "${config}" == "{"*"}" ]] || die "the image config must be a JSON object"
tag="${reference##*:}"

case "$(uname -m)" in
x86_64) arch=amd64 ;;
aarch64) arch=arm64 ;;
*) die "unsupported machine $(uname -m)" ;;
esac

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
blobs="${work}/layout/blobs/sha256"
mkdir -p "${blobs}"

# reproducible_tar DIR OUT: a tar of DIR's contents that depends on nothing but
# the files' names, contents, modes and link targets.
reproducible_tar() {
	tar --create --file="$2" --directory="$1" --format=posix \
		--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
		--sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner .
}

# add_blob FILE: move FILE into the layout's blobs; print "<digest> <size>".
add_blob() {
	local digest size
	digest="$(sha256sum "$1" | cut -d' ' -f1)"
	size="$(stat -c %s "$1")"
	mv "$1" "${blobs}/${digest}"
	echo "sha256:${digest} ${size}"
}

reproducible_tar "${rootfs}" "${work}/layer.tar"
read -r layer_digest layer_size < <(add_blob "${work}/layer.tar")

printf '{"architecture":"%s","os":"linux","config":%s,"rootfs":{"type":"layers","diff_ids":["%s"]}}' \
	"${arch}" "${config}" "${layer_digest}" >"${work}/config.json"
read -r config_digest config_size < <(add_blob "${work}/config.json")

printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%s}]}' \
	"${config_digest}" "${config_size}" "${layer_digest}" "${layer_size}" >"${work}/manifest.json"
read -r manifest_digest manifest_size < <(add_blob "${work}/manifest.json")

# containerd names the imported image after io.containerd.image.name; the
# OCI ref name annotation carries the tag, as containerd's own exports do.
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"platform":{"architecture":"%s","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
	"${manifest_digest}" "${manifest_size}" "${arch}" "${reference}" "${tag}" >"${work}/layout/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' >"${work}/layout/oci-layout"

reproducible_tar "${work}/layout" "${work}/image.tar"
mv "${work}/image.tar" "${out}"
