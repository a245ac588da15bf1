//go:build tools

// Package tools pins containerd v2, the container runtime that K3s agents
// embed: the daemon, the runc shim and ctr (which imports the node's images).
// It is never compiled into anything; the blank imports keep the commands'
// dependencies in go.mod and go.sum.
package tools

import (
	_ "github.com/containerd/containerd/v2/cmd/containerd"
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"
	_ "github.com/containerd/containerd/v2/cmd/ctr"
)
