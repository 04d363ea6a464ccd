package domain

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestSetIDEntropy(t *testing.T) {
	at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	draw := func() []string {
		restore := SetIDEntropy(rand.NewChaCha8([32]byte{7}))
		defer restore()
		return []string{NewID(at), NewID(at), NewID(at.Add(time.Second))}
	}
	a, b := draw(), draw()
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("id %d: %s then %s from the same entropy", i, a[i], b[i])
		}
	}
	if !(a[0] < a[1] && a[1] < a[2]) {
		t.Errorf("ids not increasing: %v", a)
	}
	if NewID(at) == a[0] {
		t.Error("restore left the seeded entropy in place")
	}
}
