package domain_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/aiff/aiff/domain"
)

// uZone is a concave U-shaped zone in (lng, lat) = (x, y): a 6×6 square with the notch
// x∈[2,4], y∈[2,6] cut out of its top.
//
//	y=6  +--+  +--+
//	     |  |  |  |
//	y=2  |  +--+  |
//	     |        |
//	y=0  +--------+
//	    x=0 2  4  6
var uZone = domain.Zone{Name: "U", Boundary: []domain.Point{
	{Lng: 0, Lat: 0}, {Lng: 6, Lat: 0}, {Lng: 6, Lat: 6}, {Lng: 4, Lat: 6},
	{Lng: 4, Lat: 2}, {Lng: 2, Lat: 2}, {Lng: 2, Lat: 6}, {Lng: 0, Lat: 6},
}}

// notchZone fills the notch of uZone exactly; together they tile the square [0,6]×[0,6].
var notchZone = domain.Zone{Name: "Notch", Boundary: []domain.Point{
	{Lng: 2, Lat: 2}, {Lng: 4, Lat: 2}, {Lng: 4, Lat: 6}, {Lng: 2, Lat: 6},
}}

func TestZoneContains(t *testing.T) {
	tests := []struct {
		name string
		p    domain.Point
		want bool
	}{
		{"base", domain.Point{Lng: 3, Lat: 1}, true},
		{"left arm", domain.Point{Lng: 1, Lat: 5}, true},
		{"right arm", domain.Point{Lng: 5, Lat: 5}, true},
		{"near a corner", domain.Point{Lng: 0.001, Lat: 0.001}, true},
		{"in the notch", domain.Point{Lng: 3, Lat: 4}, false},
		{"just above the notch floor", domain.Point{Lng: 3, Lat: 2.001}, false},
		{"just below the notch floor", domain.Point{Lng: 3, Lat: 1.999}, true},
		{"left of the square", domain.Point{Lng: -1, Lat: 3}, false},
		{"right of the square", domain.Point{Lng: 7, Lat: 3}, false},
		{"above the square", domain.Point{Lng: 1, Lat: 7}, false},
		{"below the square", domain.Point{Lng: 1, Lat: -1}, false},
		// Rays through vertices: a horizontal ray at the notch floor's height passes the
		// vertices (2,2) and (4,2) and must not flip the answer.
		{"left arm at notch floor height", domain.Point{Lng: 1, Lat: 2}, true},
		{"right arm at notch floor height", domain.Point{Lng: 5, Lat: 2}, true},
		{"outside left at notch floor height", domain.Point{Lng: -1, Lat: 2}, false},
		{"outside right at notch floor height", domain.Point{Lng: 7, Lat: 2}, false},
		{"outside left at top height", domain.Point{Lng: -1, Lat: 6}, false},
		{"outside left at bottom height", domain.Point{Lng: -1, Lat: 0}, false},
		{"far away", domain.Point{Lng: 100, Lat: 50}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := uZone.Contains(tt.p); got != tt.want {
				t.Errorf("Contains(%+v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

// TestZoneContainsBoundaryBelongsToOneZone checks points on the shared border of two adjacent
// zones, vertices included: each point strictly inside their union must lie in exactly one of
// them, so a ticket on a border line is never in two zones or in none.
func TestZoneContainsBoundaryBelongsToOneZone(t *testing.T) {
	for x := 0.25; x < 6; x += 0.25 {
		for y := 0.25; y < 6; y += 0.25 {
			p := domain.Point{Lng: x, Lat: y}
			inU, inNotch := uZone.Contains(p), notchZone.Contains(p)
			if inU == inNotch {
				t.Errorf("point (lng %v, lat %v): in U %v, in notch %v; want exactly one", x, y, inU, inNotch)
			}
		}
	}
	// The notch floor and walls are shared edges; check the documented owner of each.
	tests := []struct {
		p            domain.Point
		wantInNotch  bool
		borderedSide string
	}{
		{domain.Point{Lng: 3, Lat: 2}, true, "floor"},
		{domain.Point{Lng: 2, Lat: 4}, true, "left wall"},
		{domain.Point{Lng: 4, Lat: 4}, false, "right wall"},
		{domain.Point{Lng: 2, Lat: 2}, true, "floor-left vertex"},
		{domain.Point{Lng: 4, Lat: 2}, false, "floor-right vertex"},
	}
	for _, tt := range tests {
		if got := notchZone.Contains(tt.p); got != tt.wantInNotch {
			t.Errorf("notch %s %+v: Contains = %v, want %v", tt.borderedSide, tt.p, got, tt.wantInNotch)
		}
		if got := uZone.Contains(tt.p); got == tt.wantInNotch {
			t.Errorf("U %s %+v: Contains = %v, want %v", tt.borderedSide, tt.p, got, !tt.wantInNotch)
		}
	}
}

func TestZoneContainsDegenerate(t *testing.T) {
	for _, z := range []domain.Zone{
		{Name: "none"},
		{Name: "one", Boundary: []domain.Point{{Lat: 1, Lng: 1}}},
	} {
		if z.Contains(domain.Point{Lat: 1, Lng: 1}) {
			t.Errorf("zone %q with %d points contains a point", z.Name, len(z.Boundary))
		}
	}
}

func TestZoneValidate(t *testing.T) {
	tri := []domain.Point{{Lat: 0, Lng: 0}, {Lat: 1, Lng: 0}, {Lat: 0, Lng: 1}}
	tests := []struct {
		name  string
		z     domain.Zone
		field string
	}{
		{"triangle", domain.Zone{Name: "Z", Boundary: tri}, ""},
		{"concave", uZone, ""},
		{"no boundary", domain.Zone{Name: "Z"}, ""},
		{"name 100 runes", domain.Zone{Name: strings.Repeat("ö", 100)}, ""},
		{"no name", domain.Zone{Boundary: tri}, "name"},
		{"name 101 runes", domain.Zone{Name: strings.Repeat("z", 101)}, "name"},
		{"one point", domain.Zone{Name: "Z", Boundary: tri[:1]}, "boundary"},
		{"two points", domain.Zone{Name: "Z", Boundary: tri[:2]}, "boundary"},
		{"corners of the globe", domain.Zone{Name: "Z", Boundary: []domain.Point{{Lat: -90, Lng: -180}, {Lat: 90, Lng: -180}, {Lat: 90, Lng: 180}}}, ""},
		{"lat off the globe", domain.Zone{Name: "Z", Boundary: []domain.Point{{Lat: 0, Lng: 0}, {Lat: 91, Lng: 0}, {Lat: 0, Lng: 1}}}, "boundary"},
		{"lng off the globe", domain.Zone{Name: "Z", Boundary: []domain.Point{{Lat: 0, Lng: 0}, {Lat: 1, Lng: -181}, {Lat: 0, Lng: 1}}}, "boundary"},
		{"NaN point", domain.Zone{Name: "Z", Boundary: []domain.Point{{Lat: 0, Lng: 0}, {Lat: math.NaN(), Lng: 0}, {Lat: 0, Lng: 1}}}, "boundary"},
		{"center off the globe", domain.Zone{Name: "Z", Boundary: tri, Center: domain.Point{Lat: 0, Lng: 200}}, "boundary"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.z.Validate()
			if tt.field == "" {
				checkErr(t, err, "", "")
				return
			}
			checkErr(t, err, domain.CodeInvalid, tt.field)
		})
	}
}

// TestZoneValidateKeepsBoundary guards against Validate writing into the caller's boundary
// array (append on a slice with spare capacity).
func TestZoneValidateKeepsBoundary(t *testing.T) {
	b := make([]domain.Point, 3, 4)
	copy(b, []domain.Point{{Lat: 0, Lng: 0}, {Lat: 1, Lng: 0}, {Lat: 0, Lng: 1}})
	spare := b[:4]
	spare[3] = domain.Point{Lat: 7, Lng: 7}
	z := domain.Zone{Name: "Z", Boundary: b, Center: domain.Point{Lat: 0.3, Lng: 0.3}}
	if err := z.Validate(); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(spare[3]), fmt.Sprint(domain.Point{Lat: 7, Lng: 7}); got != want {
		t.Errorf("Validate overwrote the boundary's spare capacity: %s, want %s", got, want)
	}
}
