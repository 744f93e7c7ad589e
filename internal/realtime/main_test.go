package realtime_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/wagate/wagate/internal/testenv"
)

// TestMain gives this package a PostgreSQL database of its own (each test
// still gets a schema in it from testenv). The hub follows the outbox only
// past every transaction of its database that could still add a row, like
// in production, where wagate has a database to itself; sharing the suite's
// database would make it wait for other packages' long transactions.
func TestMain(m *testing.M) { os.Exit(withOwnDatabase(m)) }

func withOwnDatabase(m *testing.M) int {
	base := testenv.PostgresAdminURL()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		return m.Run() // testenv reports the unavailable server per test
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if admin.PingContext(ctx) != nil {
		return m.Run()
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "wagate_realtime_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		fmt.Fprintf(os.Stderr, "create test database: %v\n", err)
		return 1
	}
	defer admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	u, err := url.Parse(base)
	if err != nil {
		fmt.Fprintf(os.Stderr, "parse %s: %v\n", base, err)
		return 1
	}
	u.Path = "/" + name
	os.Setenv("WAGATE_TEST_DATABASE_URL", u.String())
	return m.Run()
}
