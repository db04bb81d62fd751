package account_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
)

// TestRenameDevicePage: the payer renames their own device from the
// account page; another customer's post for it, a post without the
// page's token, and a name too long change nothing and say so in the
// payer's words.
func TestRenameDevicePage(t *testing.T) {
	f := newFixture(t)
	alice := f.signUp(t, "alice@example.com", "+4915112340001")
	bob := f.signUp(t, "bob@example.com", "+4915112340002")
	ds, err := f.identity.Devices(context.Background(), alice.Customer.ID)
	if err != nil || len(ds) != 1 {
		t.Fatalf("alice's devices %v, %v", ds, err)
	}
	rename := "/account/devices/" + ds[0].ID + "/rename"
	name := func() string {
		ds, _ := f.identity.Devices(context.Background(), alice.Customer.ID)
		return ds[0].Name
	}

	b := f.visitor(t)
	b.setSession(bob)
	b.get("/account")
	b.wantPage("bob renames alice's device", b.post(rename, url.Values{"name": {"Mine now"}}), 422,
		"This device is no longer in your account.")
	a := f.visitor(t)
	a.setSession(alice)
	a.get("/account")
	if resp := a.post(rename, url.Values{"name": {"No token"}, "csrf": {""}}); resp.StatusCode != 403 {
		t.Errorf("rename without the page's token = %d", resp.StatusCode)
	}
	a.get("/account")
	a.wantPage("a name too long", a.post(rename, url.Values{"name": {strings.Repeat("x", 65)}}), 422,
		"Give the device a name of up to 64 letters.")
	if n := name(); n != "" {
		t.Fatalf("after refused renames the device is called %q", n)
	}
	resp := a.post(rename, url.Values{"name": {"  Laptop <b>  "}})
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/account?done=device_renamed#devices" {
		t.Fatalf("rename = %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	a.wantPage("renamed", a.follow(resp), 200, "The device was renamed.", "Laptop &lt;b&gt;")
	if n := name(); n != "Laptop <b>" {
		t.Errorf("device name %q", n)
	}
}
