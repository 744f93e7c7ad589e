package e2e

import (
	"os"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
)

func TestMain(m *testing.M) {
	// whatsmeow's keep-alive knobs are package variables: set them before
	// any client starts (changing them later is a data race), short enough
	// that every test exercises pings against the fake.
	whatsmeow.KeepAliveIntervalMin = 500 * time.Millisecond
	whatsmeow.KeepAliveIntervalMax = time.Second
	os.Exit(m.Run())
}
