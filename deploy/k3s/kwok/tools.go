//go:build tools

// Package tools pins kwok, the fake-node simulator used by the end-to-end
// tests. build-kwok.sh builds its command from this module.
package tools

import _ "sigs.k8s.io/kwok/cmd/kwok"
