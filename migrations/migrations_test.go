package migrations_test

import (
	"testing"

	"github.com/aiff/aiff/migrations"
)

func TestListBothDialectsInStep(t *testing.T) {
	pg, err := migrations.List(migrations.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	lite, err := migrations.List(migrations.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	if len(pg) != len(lite) {
		t.Fatalf("postgres has %d migrations, sqlite %d: every schema step needs both dialects", len(pg), len(lite))
	}
	for i := range pg {
		if pg[i].Version != lite[i].Version || pg[i].Name != lite[i].Name {
			t.Errorf("migration %d: postgres %d_%s, sqlite %d_%s", i, pg[i].Version, pg[i].Name, lite[i].Version, lite[i].Name)
		}
		if i > 0 && pg[i].Version <= pg[i-1].Version {
			t.Errorf("versions not increasing at %d", pg[i].Version)
		}
	}
	if _, err := migrations.List("oracle"); err == nil {
		t.Error("unknown dialect: want error")
	}
}
