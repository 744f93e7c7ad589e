package session

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/wagate/wagate/internal/apperr"
	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/testenv"
)

// fakeCloudCredentials records what it was asked to save.
type fakeCloudCredentials struct {
	checkErr, saveErr error
	saved             []Ref
}

func (f *fakeCloudCredentials) Check(CloudSettings) error { return f.checkErr }
func (f *fakeCloudCredentials) Save(_ context.Context, _ *sql.Tx, ref Ref, _ CloudSettings) error {
	if f.saveErr != nil {
		return f.saveErr
	}
	f.saved = append(f.saved, ref)
	return nil
}

func TestCloudSetup(t *testing.T) {
	t.Parallel()
	settings := &CloudSettings{PhoneNumberID: "1", AccessToken: "t", AppSecret: "s", VerifyToken: "12345678"}
	cases := []struct {
		name     string
		cloud    CloudCredentials
		provider string
		settings *CloudSettings
		want     error
		saves    bool
	}{
		{"OtherProviderWithoutSettings", &fakeCloudCredentials{}, ProviderWhatsmeow, nil, nil, false},
		{"OtherProviderWithSettings", &fakeCloudCredentials{}, ProviderSimulator, settings, ErrCloudSettingsUnexpected, false},
		{"CloudWithoutSettings", &fakeCloudCredentials{}, ProviderCloud, nil, ErrCloudSettingsRequired, false},
		{"CloudNotWired", nil, ProviderCloud, settings, ErrUnknownProvider, false},
		{"CheckRefuses", &fakeCloudCredentials{checkErr: apperr.Unprocessable("secret-key-required", "x")}, ProviderCloud, settings,
			apperr.Unprocessable("secret-key-required", "x"), false},
		{"CloudWithSettings", &fakeCloudCredentials{}, ProviderCloud, settings, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := &API{cfg: APIConfig{Cloud: tc.cloud}}
			fn, err := a.cloudSetup(tc.provider, tc.settings)
			if !errors.Is(err, tc.want) && !(err == nil && tc.want == nil) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if (fn != nil) != tc.saves {
				t.Fatalf("save function returned: %v, want %v", fn != nil, tc.saves)
			}
		})
	}
}

func TestCreateWithProviderSettings(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			db := testenv.OpenDB(t, d)
			st := NewStore(db)
			ctx := context.Background()
			creds := &fakeCloudCredentials{}
			a := NewAPI(st, APIConfig{Cloud: creds})
			settings := &CloudSettings{PhoneNumberID: "1", AccessToken: "t", AppSecret: "s", VerifyToken: "12345678"}

			t.Run("SettingsAreSavedWithTheSession", func(t *testing.T) {
				fn, err := a.cloudSetup(ProviderCloud, settings)
				if err != nil {
					t.Fatal(err)
				}
				s, _ := NewSession(eventlog.NewID(), "tenant-c", "", ProviderCloud, time.Now())
				if err := st.Create(ctx, s, fn); err != nil {
					t.Fatal(err)
				}
				if len(creds.saved) != 1 || creds.saved[0] != s.Ref() {
					t.Fatalf("saved %v", creds.saved)
				}
			})
			t.Run("FailingSaveLeavesNoSession", func(t *testing.T) {
				creds.saveErr = errors.New("disk full")
				fn, _ := a.cloudSetup(ProviderCloud, settings)
				s, _ := NewSession(eventlog.NewID(), "tenant-c", "", ProviderCloud, time.Now())
				if err := st.Create(ctx, s, fn); err == nil {
					t.Fatal("create succeeded although the settings were not saved")
				}
				if _, err := st.GetAny(ctx, "tenant-c", s.ID()); !errors.Is(err, ErrNotFound) {
					t.Fatalf("session left behind: %v", err)
				}
				if rows := readOutbox(t, db, s.ID()); len(rows) != 0 {
					t.Fatalf("outbox rows left behind: %v", rows)
				}
			})
		})
	}
}
