package identity_test

import (
	"strings"
	"testing"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/identity"
)

// TestRenameDevice: a payer names their own device (trimmed); an empty,
// over-long or control-character name is refused, and nobody renames
// another customer's device or an unknown one.
func TestRenameDevice(t *testing.T) {
	e := newEnv(t)
	a := e.signUp(t, "rena@example.com", "+4915100000800")
	b := e.signUp(t, "other@example.com", "+4915100000801")
	ds, err := e.svc.Devices(e.ctx, a.Customer.ID)
	if err != nil || len(ds) != 1 {
		t.Fatalf("devices = %v, %v", ds, err)
	}
	d, err := e.svc.RenameDevice(e.ctx, a.Customer.ID, ds[0].ID, "  Work laptop ")
	if err != nil || d.Name != "Work laptop" {
		t.Fatalf("RenameDevice = %+v, %v", d, err)
	}
	if ds, _ := e.svc.Devices(e.ctx, a.Customer.ID); ds[0].Name != "Work laptop" {
		t.Errorf("listed name %q", ds[0].Name)
	}
	for _, bad := range []string{"", "   ", strings.Repeat("x", identity.DeviceNameLengthMax+1), "a\nb", "\xff"} {
		_, err := e.svc.RenameDevice(e.ctx, a.Customer.ID, ds[0].ID, bad)
		wantErr(t, "name "+bad, err, kassa.EInvalid, identity.CodeDeviceNameInvalid)
	}
	if _, err := e.svc.RenameDevice(e.ctx, a.Customer.ID, ds[0].ID, strings.Repeat("ü", identity.DeviceNameLengthMax)); err != nil {
		t.Errorf("a name of %d characters: %v", identity.DeviceNameLengthMax, err)
	}
	for _, tt := range []struct{ who, dev string }{{b.Customer.ID, ds[0].ID}, {a.Customer.ID, "dev_nothere"}, {a.Customer.ID, "ses_x"}} {
		_, err := e.svc.RenameDevice(e.ctx, tt.who, tt.dev, "Mine now")
		wantErr(t, "rename "+tt.dev+" as "+tt.who, err, kassa.ENotFound, identity.CodeDeviceNotFound)
	}
	if ds, _ := e.svc.Devices(e.ctx, a.Customer.ID); ds[0].Name == "Mine now" {
		t.Error("another customer renamed the device")
	}
}
