package server

import "syscall"

// errTooManyFiles is the accept error of a process out of file
// descriptors; Serve backs off instead of failing.
var errTooManyFiles = syscall.EMFILE
