//go:build !js

package client

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// HomeLock is the exclusive lock of one home directory: one live session
// per device. Two processes that each open the home's store and connect
// as the same device knock each other's session off the server in a loop
// and race on the MLS state (a message key used by one is gone for the
// other), so every program that runs a Client on a home holds this lock
// for as long as the Client is open.
//
// The lock is an flock(2) on HOME/lock: the kernel drops it when the
// process dies, even by kill -9, so a crash never leaves a home locked.
// The file holds the PID of the holder, for messages only.
type HomeLock struct {
	f *os.File
}

// HomeBusyError: another process holds the home's lock.
type HomeBusyError struct {
	Home string
	PID  int // 0 if unknown
}

func (e *HomeBusyError) Error() string {
	who := "another samizdat process"
	if e.PID > 0 {
		who = fmt.Sprintf("another samizdat process (pid %d)", e.PID)
	}
	return fmt.Sprintf("client: %s is using %s; wait for it to finish or stop it (a running 'samizdat listen' takes other commands itself)", who, e.Home)
}

// LockHome takes the lock of home without waiting: *HomeBusyError if
// another process holds it. The home directory is created if missing.
func LockHome(home string) (*HomeLock, error) {
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, fmt.Errorf("client: creating home directory: %w", err)
	}
	path := filepath.Join(home, "lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("client: opening the home's lock: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, &HomeBusyError{Home: home, PID: lockHolder(path)}
		}
		return nil, fmt.Errorf("client: locking the home directory: %w", err)
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return &HomeLock{f: f}, nil
}

// lockHolder reads the PID a lock file names (0 if none).
func lockHolder(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// Unlock releases the lock. It is safe to call more than once.
func (l *HomeLock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the descriptor drops the flock
	l.f = nil
	return err
}
