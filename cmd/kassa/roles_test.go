package main

import "testing"

func TestParseRoles(t *testing.T) {
	tests := []struct {
		in      string
		want    roleSet
		wantErr bool
	}{
		{rolesDefault, allRoles, false},
		{"api", roleSet{api: true}, false},
		{"worker,pages", roleSet{pages: true, worker: true}, false},
		{" api , worker ", roleSet{api: true, worker: true}, false},
		{"", roleSet{}, true},
		{"api,", roleSet{}, true},
		{"api,api", roleSet{}, true},
		{"scorer", roleSet{}, true},
		{"API", roleSet{}, true},
	}
	for _, tt := range tests {
		got, err := parseRoles(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseRoles(%q) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
	if got := (roleSet{api: true, worker: true}).String(); got != "api,worker" {
		t.Errorf("String() = %q", got)
	}
}
