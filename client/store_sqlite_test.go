//go:build !js

package client

import (
	"database/sql"
	"testing"
)

// sqlDB is the SQLite database under c, for tests that look at raw rows.
func sqlDB(c *Client) *sql.DB { return c.store.eng.(*sqliteEngine).db }

func init() {
	testEngines["sqlite"] = func(t *testing.T) (storeEngine, func() storeEngine) {
		home := t.TempDir()
		return reopening(t, func() (storeEngine, error) { return openEngine(home) })
	}
}
