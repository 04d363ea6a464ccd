package domain_test

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
)

func TestNewIDMonotonic(t *testing.T) {
	// Many IDs in one millisecond, then a later millisecond: each must sort after the last.
	prev := ""
	for i := range 5000 {
		at := t0
		if i >= 4000 {
			at = t0.Add(time.Millisecond)
		}
		id := domain.NewID(at)
		if !domain.ValidID(id) {
			t.Fatalf("NewID = %q is not a valid ID", id)
		}
		if id <= prev {
			t.Fatalf("NewID #%d = %q, not after %q", i, id, prev)
		}
		prev = id
	}
}

func TestNewIDConcurrentUnique(t *testing.T) {
	const workers, each = 8, 500
	ids := make([][]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range each {
				ids[w] = append(ids[w], domain.NewID(t0))
			}
		})
	}
	wg.Wait()
	var all []string
	for _, l := range ids {
		if !slices.IsSorted(l) {
			t.Error("one goroutine's IDs are not increasing")
		}
		all = append(all, l...)
	}
	slices.Sort(all)
	if got := len(slices.Compact(all)); got != workers*each {
		t.Errorf("%d unique IDs, want %d", got, workers*each)
	}
}

func TestIDTime(t *testing.T) {
	at := time.Date(2025, 3, 10, 9, 0, 0, 123_456_789, time.FixedZone("X", 3600))
	got, err := domain.IDTime(domain.NewID(at))
	if err != nil {
		t.Fatalf("IDTime: %v", err)
	}
	if want := at.Truncate(time.Millisecond).UTC(); !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("IDTime = %v, want %v in UTC", got, want)
	}

	got, err = domain.IDTime("01ARZ3NDEKTSV4RRFFQ69G5FAV")
	if err != nil {
		t.Fatalf("IDTime: %v", err)
	}
	if want := time.UnixMilli(1469922850259).UTC(); !got.Equal(want) {
		t.Errorf("IDTime(spec example) = %v, want %v", got, want)
	}

	for _, bad := range []string{"", "not-an-id", "01ARZ3NDEKTSV4RRFFQ69G5FA", "01ARZ3NDEKTSV4RRFFQ69G5FAU!"} {
		_, err := domain.IDTime(bad)
		checkErr(t, err, domain.CodeInvalid, "id")
	}
}

func TestValidID(t *testing.T) {
	valid := "01ARZ3NDEKTSV4RRFFQ69G5FAV"
	tests := []struct {
		name string
		s    string
		want bool
	}{
		{"canonical", valid, true},
		{"new", domain.NewID(t0), true},
		{"zero", "00000000000000000000000000", true},
		{"max", "7ZZZZZZZZZZZZZZZZZZZZZZZZZ", true},
		{"lowercase", strings.ToLower(valid), false},
		{"mixed case", "01arZ3NDEKTSV4RRFFQ69G5FAV", false},
		{"empty", "", false},
		{"too short", valid[:25], false},
		{"too long", valid + "0", false},
		{"I is not Crockford", "01ARZ3NDEKTSV4RRFFQ69G5FAI", false},
		{"L is not Crockford", "01ARZ3NDEKTSV4RRFFQ69G5FAL", false},
		{"O is not Crockford", "01ARZ3NDEKTSV4RRFFQ69G5FAO", false},
		{"U is not Crockford", "01ARZ3NDEKTSV4RRFFQ69G5FAU", false},
		{"punctuation", "01ARZ3NDEKTSV4RRFFQ69G5FA-", false},
		{"space", "01ARZ3NDEKTSV4RRFFQ69G5FA ", false},
		{"non-ascii", valid[:24] + "Ä", false}, // 26 bytes
		{"overflow", "80000000000000000000000000", false},
		{"uuid", "0188e5f0-6c1a-7c3e-9f1a-0123456789ab", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := domain.ValidID(tt.s); got != tt.want {
				t.Errorf("ValidID(%q) = %v, want %v", tt.s, got, tt.want)
			}
		})
	}
}
