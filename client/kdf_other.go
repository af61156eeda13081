//go:build !linux

package client

// prefaultHeap does nothing off Linux (kdf_linux.go).
func prefaultHeap(int) {}

// populate does nothing off Linux (kdf_linux.go).
func populate([]byte) {}
