//go:build tools

// Package tools pins kine, the etcd shim that K3s uses to keep cluster state
// in SQLite. build.sh builds its command from this module.
package tools

import _ "github.com/k3s-io/kine"
