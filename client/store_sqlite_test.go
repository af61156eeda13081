//go:build !js

package client

import "database/sql"

// sqlDB is the SQLite database under c, for tests that look at raw rows.
func sqlDB(c *Client) *sql.DB { return c.store.eng.(*sqliteEngine).db }
