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
		open := func() storeEngine {
			e, err := openEngine(home)
			if err != nil {
				t.Fatal(err)
			}
			return e
		}
		return open(), open
	}
}
