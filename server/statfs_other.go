//go:build !unix

package server

import "errors"

// freeBytes is not implemented here: the free-space guard is off.
func freeBytes(dir string) (uint64, error) {
	return 0, errors.New("free space is not known on this system")
}
