package mls

// GroupPolicy is placeholder; filled in below.
type GroupPolicy struct{}
