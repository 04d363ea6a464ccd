package seed

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/aiff/aiff/domain"
)

// The synthetic city is inner Berlin laid out as a 4×4 grid of districts around Mitte. Each
// district keeps its real name, borough, postcodes and a few of its real streets, so addresses
// and map pins look right to a reader. The grid is a simplification of the real boundaries; its
// cells share jittered vertices, so the polygons tile the area without overlapping.

// MaxZones is the number of districts the synthetic city has.
const MaxZones = gridRows * gridCols

const (
	gridRows = 4
	gridCols = 4
	// The grid spans about 22 km west–east and 15 km north–south around Berlin Mitte.
	gridNorth = 52.585
	gridSouth = 52.445
	gridWest  = 13.250
	gridEast  = 13.570
	// geometrySeed fixes the polygons: every seed shows the same map, only the data differs.
	geometrySeed = 0x6265726c696e // "berlin"
)

// district is one grid cell's real-world identity.
type district struct {
	name      string
	region    string // the Berlin borough (Bezirk)
	postcodes []string
	streets   []string
}

// districts is the grid in row-major order, north-west first.
var districts = [gridRows * gridCols]district{
	{"Reinickendorf", "Reinickendorf", []string{"13403", "13407", "13409"},
		[]string{"Residenzstraße", "Scharnweberstraße", "Provinzstraße", "Markstraße", "Aroser Allee", "Lindauer Allee"}},
	{"Wedding", "Mitte", []string{"13347", "13349", "13351", "13353"},
		[]string{"Müllerstraße", "Seestraße", "Badstraße", "Osloer Straße", "Amrumer Straße", "Sprengelstraße"}},
	{"Prenzlauer Berg", "Pankow", []string{"10405", "10435", "10437", "10439"},
		[]string{"Schönhauser Allee", "Kastanienallee", "Danziger Straße", "Greifswalder Straße", "Prenzlauer Allee", "Stargarder Straße"}},
	{"Weißensee", "Pankow", []string{"13086", "13088"},
		[]string{"Berliner Allee", "Langhansstraße", "Pistoriusstraße", "Charlottenburger Straße", "Gustav-Adolf-Straße"}},

	{"Charlottenburg", "Charlottenburg-Wilmersdorf", []string{"10585", "10587", "10623", "10625", "10627", "10629"},
		[]string{"Kantstraße", "Kurfürstendamm", "Wilmersdorfer Straße", "Bismarckstraße", "Otto-Suhr-Allee", "Knesebeckstraße"}},
	{"Tiergarten", "Mitte", []string{"10551", "10553", "10555", "10557", "10785"},
		[]string{"Turmstraße", "Alt-Moabit", "Stromstraße", "Lützowufer", "Perleberger Straße", "Huttenstraße"}},
	{"Mitte", "Mitte", []string{"10115", "10117", "10119", "10178", "10179"},
		[]string{"Friedrichstraße", "Torstraße", "Rosenthaler Straße", "Karl-Liebknecht-Straße", "Chausseestraße", "Invalidenstraße"}},
	{"Lichtenberg", "Lichtenberg", []string{"10315", "10365", "10367", "10369"},
		[]string{"Frankfurter Allee", "Möllendorffstraße", "Weitlingstraße", "Siegfriedstraße", "Alt-Friedrichsfelde", "Storkower Straße"}},

	{"Wilmersdorf", "Charlottenburg-Wilmersdorf", []string{"10707", "10709", "10713", "10715", "10717", "10719"},
		[]string{"Uhlandstraße", "Hohenzollerndamm", "Berliner Straße", "Bundesallee", "Brandenburgische Straße", "Prinzregentenstraße"}},
	{"Schöneberg", "Tempelhof-Schöneberg", []string{"10777", "10779", "10781", "10783", "10823", "10827"},
		[]string{"Hauptstraße", "Goltzstraße", "Akazienstraße", "Martin-Luther-Straße", "Potsdamer Straße", "Winterfeldtstraße"}},
	{"Kreuzberg", "Friedrichshain-Kreuzberg", []string{"10961", "10963", "10965", "10967", "10997", "10999"},
		[]string{"Oranienstraße", "Bergmannstraße", "Wiener Straße", "Skalitzer Straße", "Gneisenaustraße", "Yorckstraße"}},
	{"Treptow", "Treptow-Köpenick", []string{"12435", "12437"},
		[]string{"Elsenstraße", "Puschkinallee", "Kiefholzstraße", "Baumschulenstraße", "Plesser Straße"}},

	{"Steglitz", "Steglitz-Zehlendorf", []string{"12163", "12165", "12167", "12169"},
		[]string{"Schloßstraße", "Albrechtstraße", "Birkbuschstraße", "Lepsiusstraße", "Kniephofstraße"}},
	{"Tempelhof", "Tempelhof-Schöneberg", []string{"12099", "12101", "12103", "12105", "12109"},
		[]string{"Tempelhofer Damm", "Manfred-von-Richthofen-Straße", "Friedrich-Karl-Straße", "Alt-Tempelhof", "Ringbahnstraße", "Boelckestraße"}},
	{"Neukölln", "Neukölln", []string{"12043", "12045", "12047", "12049", "12051", "12053", "12055", "12059"},
		[]string{"Karl-Marx-Straße", "Sonnenallee", "Hermannstraße", "Weserstraße", "Flughafenstraße", "Richardstraße"}},
	{"Köpenick", "Treptow-Köpenick", []string{"12555", "12557", "12559"},
		[]string{"Bahnhofstraße", "Alt-Köpenick", "Lindenstraße", "Seelenbinderstraße", "Wendenschloßstraße", "Müggelheimer Straße"}},
}

// zoneGeo is a chosen district with its polygon.
type zoneGeo struct {
	district
	slug     string // ASCII name for usernames: "prenzlauer-berg"
	boundary []domain.Point
	center   domain.Point
	minLat   float64
	maxLat   float64
	minLng   float64
	maxLng   float64
}

// cityZones returns the n districts closest to the city centre (n ≤ MaxZones), nearest first,
// so that a small city is the compact inner ring rather than a strip along the north edge.
func cityZones(n int) []zoneGeo {
	cells := gridCells()
	order := make([]int, len(cells))
	for i := range order {
		order[i] = i
	}
	midLat, midLng := (gridNorth+gridSouth)/2, (gridWest+gridEast)/2
	dist := func(i int) float64 {
		r, c := i/gridCols, i%gridCols
		lat := gridNorth - (float64(r)+0.5)*(gridNorth-gridSouth)/gridRows
		lng := gridWest + (float64(c)+0.5)*(gridEast-gridWest)/gridCols
		return math.Hypot(lat-midLat, (lng-midLng)*math.Cos(midLat*math.Pi/180))
	}
	slices.SortStableFunc(order, func(a, b int) int {
		da, db := dist(a), dist(b)
		switch {
		case da < db-1e-12:
			return -1
		case da > db+1e-12:
			return 1
		}
		return a - b
	})
	out := make([]zoneGeo, 0, n)
	for _, i := range order[:n] {
		z := zoneGeo{district: districts[i], slug: slug(districts[i].name), boundary: cells[i]}
		z.center = centroid(z.boundary)
		z.minLat, z.maxLat, z.minLng, z.maxLng = 90, -90, 180, -180
		for _, p := range z.boundary {
			z.minLat, z.maxLat = min(z.minLat, p.Lat), max(z.maxLat, p.Lat)
			z.minLng, z.maxLng = min(z.minLng, p.Lng), max(z.maxLng, p.Lng)
		}
		out = append(out, z)
	}
	return out
}

// gridCells builds the jittered grid: corner vertices and edge midpoints are shared between
// neighbouring cells, so the cells tile the plane. Each cell is an 8-point ring, clockwise from
// its north-west corner.
func gridCells() [][]domain.Point {
	rng := rand.New(rand.NewPCG(geometrySeed, 1))
	dLat := (gridNorth - gridSouth) / gridRows
	dLng := (gridEast - gridWest) / gridCols
	jit := func(scale float64) float64 { return (rng.Float64()*2 - 1) * scale }
	// Corner vertices: (gridRows+1) × (gridCols+1).
	v := make([][]domain.Point, gridRows+1)
	for r := range v {
		v[r] = make([]domain.Point, gridCols+1)
		for c := range v[r] {
			v[r][c] = domain.Point{
				Lat: gridNorth - float64(r)*dLat + jit(0.12*dLat),
				Lng: gridWest + float64(c)*dLng + jit(0.12*dLng),
			}
		}
	}
	// Midpoints of horizontal edges (between v[r][c] and v[r][c+1]) and vertical edges
	// (between v[r][c] and v[r+1][c]), bent a little so districts do not look like boxes.
	mid := func(a, b domain.Point) domain.Point {
		return domain.Point{Lat: (a.Lat+b.Lat)/2 + jit(0.08*dLat), Lng: (a.Lng+b.Lng)/2 + jit(0.08*dLng)}
	}
	h := make([][]domain.Point, gridRows+1)
	for r := range h {
		h[r] = make([]domain.Point, gridCols)
		for c := range h[r] {
			h[r][c] = mid(v[r][c], v[r][c+1])
		}
	}
	vert := make([][]domain.Point, gridRows)
	for r := range vert {
		vert[r] = make([]domain.Point, gridCols+1)
		for c := range vert[r] {
			vert[r][c] = mid(v[r][c], v[r+1][c])
		}
	}
	cells := make([][]domain.Point, 0, gridRows*gridCols)
	for r := range gridRows {
		for c := range gridCols {
			ring := []domain.Point{
				v[r][c], h[r][c], v[r][c+1], vert[r][c+1],
				v[r+1][c+1], h[r+1][c], v[r+1][c], vert[r][c],
			}
			for i := range ring {
				ring[i] = domain.Point{Lat: round6(ring[i].Lat), Lng: round6(ring[i].Lng)}
			}
			cells = append(cells, ring)
		}
	}
	return cells
}

// centroid is the area centroid of a simple polygon (planar; fine at city scale).
func centroid(ring []domain.Point) domain.Point {
	var a, cx, cy float64
	for i := range ring {
		p, q := ring[i], ring[(i+1)%len(ring)]
		cross := p.Lng*q.Lat - q.Lng*p.Lat
		a += cross
		cx += (p.Lng + q.Lng) * cross
		cy += (p.Lat + q.Lat) * cross
	}
	a /= 2
	return domain.Point{Lat: round6(cy / (6 * a)), Lng: round6(cx / (6 * a))}
}

// pointIn draws a uniform point inside the zone polygon by rejection from its bounding box,
// rounded to 6 decimals (about 10 cm), which survives every encoding unchanged.
func (z *zoneGeo) pointIn(rng *rand.Rand) domain.Point {
	poly := domain.Zone{Boundary: z.boundary}
	for {
		p := domain.Point{
			Lat: round6(z.minLat + rng.Float64()*(z.maxLat-z.minLat)),
			Lng: round6(z.minLng + rng.Float64()*(z.maxLng-z.minLng)),
		}
		if poly.Contains(p) {
			return p
		}
	}
}

func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }

// slug turns a district name into the ASCII form used in usernames: lower case, German
// umlauts and ß spelled out, spaces as '-'.
func slug(name string) string {
	r := strings.NewReplacer("ä", "ae", "ö", "oe", "ü", "ue", "ß", "ss", "Ä", "ae", "Ö", "oe", "Ü", "ue", " ", "-")
	return strings.ToLower(r.Replace(name))
}
