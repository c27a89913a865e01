package customer

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// refs is a hand-written References.
type refs struct {
	partners, industries map[string]bool
	spaces               map[string]string
	fail                 error
}

func (r refs) HasPartner(_ context.Context, id string) (bool, error) { return r.partners[id], r.fail }
func (r refs) HasIndustry(_ context.Context, id string) (bool, error) {
	return r.industries[id], r.fail
}
func (r refs) SpaceOwner(_ context.Context, s string) (string, error) { return r.spaces[s], r.fail }

func TestCheckRegistration(t *testing.T) {
	known := refs{partners: map[string]bool{"p": true}, industries: map[string]bool{"i": true}, spaces: map[string]string{"acme": "c1"}}
	reg := func(partner, industry, space string) Registration {
		return Registration{CustomerID: "c2", PartnerID: partner, IndustryID: industry, Space: space,
			PartnerField: "partnerId", IndustryField: "payload.industryId", SpaceField: "payload.space"}
	}
	tests := []struct {
		name string
		in   Registration
		want string // field:code of each problem
	}{
		{"all good", reg("p", "i", "fresh"), ""},
		{"unknown partner", reg("x", "i", "fresh"), "partnerId:BAD_USER_INPUT"},
		{"unknown industry", reg("p", "x", "fresh"), "payload.industryId:BAD_USER_INPUT"},
		{"space taken", reg("p", "i", "acme"), "payload.space:CONFLICT"},
		{"everything wrong at once", reg("x", "x", "acme"), "partnerId:BAD_USER_INPUT payload.industryId:BAD_USER_INPUT payload.space:CONFLICT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs, err := CheckRegistration(context.Background(), known, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range errs {
				got = append(got, e.Field+":"+string(e.Code))
			}
			if g := strings.Join(got, " "); g != tt.want {
				t.Fatalf("got %q, want %q", g, tt.want)
			}
		})
	}
	// The customer's own space is not taken from it.
	own := reg("p", "i", "acme")
	own.CustomerID = "c1"
	if errs, err := CheckRegistration(context.Background(), known, own); err != nil || len(errs) != 0 {
		t.Fatalf("own space: %v %v, want no problem", errs, err)
	}
	down := errors.New("store down")
	if _, err := CheckRegistration(context.Background(), refs{fail: down}, reg("p", "i", "x")); !errors.Is(err, down) {
		t.Fatalf("lookup failure: %v, want it wrapped", err)
	}
}
