//go:build !unix

package admin

import "os"

// podSecret: Kubernetes Secret mounts exist on unix only.
func podSecret(os.FileInfo) bool { return false }
