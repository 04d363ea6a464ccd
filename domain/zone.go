package domain

import (
	"slices"
	"time"
	"unicode/utf8"
)

// Point is a WGS84 coordinate.
type Point struct {
	Lat float64 `json:"lat"`
	Lng float64 `json:"lng"`
}

// Zone is a service area, a polygon on the map, named uniquely. Tickets and teams refer to it by
// name, and edge nodes are scoped by it.
type Zone struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Region    string    `json:"region"`
	Boundary  []Point   `json:"boundary"` // closed ring, first point not repeated
	Center    Point     `json:"center"`
	CreatedAt time.Time `json:"created_at"`
}

// Validate checks the zone's name and polygon.
func (z Zone) Validate() error {
	switch {
	case z.Name == "":
		return FieldErrorf("name", "name is required")
	case utf8.RuneCountInString(z.Name) > 100:
		return FieldErrorf("name", "name is longer than 100 characters")
	case len(z.Boundary) != 0 && len(z.Boundary) < 3:
		return FieldErrorf("boundary", "boundary needs at least 3 points")
	}
	// Concat, not append: append could write Center into the caller's boundary array.
	for _, p := range slices.Concat(z.Boundary, []Point{z.Center}) {
		if !(p.Lat >= -90 && p.Lat <= 90 && p.Lng >= -180 && p.Lng <= 180) { // also refuses NaN
			return FieldErrorf("boundary", "point %v is off the globe", p)
		}
	}
	return nil
}

// Contains reports whether p lies inside the zone's boundary (ray casting; fine for city-sized
// polygons where the earth's curvature does not matter).
func (z Zone) Contains(p Point) bool {
	in := false
	b := z.Boundary
	for i, j := 0, len(b)-1; i < len(b); j, i = i, i+1 {
		if (b[i].Lat > p.Lat) != (b[j].Lat > p.Lat) &&
			p.Lng < (b[j].Lng-b[i].Lng)*(p.Lat-b[i].Lat)/(b[j].Lat-b[i].Lat)+b[i].Lng {
			in = !in
		}
	}
	return in
}

// Assignment records one hand-over of a ticket to a team, manual or automatic, for audit and
// analytics.
type Assignment struct {
	ID         string    `json:"id"`
	TicketID   string    `json:"ticket_id"`
	TeamID     string    `json:"team_id"`
	AssignedAt time.Time `json:"assigned_at"`
	AssignedBy string    `json:"assigned_by"`
	Method     string    `json:"method"` // manual or auto
	Status     string    `json:"status"` // assigned, superseded
	Notes      string    `json:"notes"`
}
