#!/bin/sh
# Inside the enclave: write the API server's webhook files, start K3s with
# them, then serve the attested master on vsock (nautilus-config.yaml's
# api.listen). The parent instance forwards TCP to it with `daas-master proxy`.
set -eu
state=/var/lib/k3s-daas/master
files=/var/lib/k3s-daas/apiserver
daas-master webhook-files --state-dir "${state}" --out "${files}"
k3s server --disable-agent --write-kubeconfig-mode 0600 \
	--kube-apiserver-arg "authentication-token-webhook-config-file=${files}/authn-webhook.kubeconfig" \
	--kube-apiserver-arg "authentication-token-webhook-version=v1" \
	--kube-apiserver-arg "authorization-config=${files}/authorization-config.yaml" \
	--kube-apiserver-arg "admission-control-config-file=${files}/admission-config.yaml" &
exec daas-master serve --attestation nitro --state-dir "${state}" \
	--config /etc/k3s-daas/nautilus-config.yaml
