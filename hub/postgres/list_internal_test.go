package postgres

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSearchWords(t *testing.T) {
	for _, tt := range []struct {
		q    string
		want []string
	}{
		{"alt-friedrichsfelde 11, 10367 berlin", []string{"alt", "friedrichsfelde", "10367", "berlin"}},
		{"hydrant", nil},          // one word: nothing to leave out
		{"ab cd ef", nil},         // no word has a trigram
		{"straße straße 12", nil}, // one distinct word
		{"müller-lüdenscheidt x", []string{"müller", "lüdenscheidt"}},
	} {
		if diff := cmp.Diff(tt.want, searchWords(tt.q)); diff != "" {
			t.Errorf("searchWords(%q) (-want +got):\n%s", tt.q, diff)
		}
	}
}

func TestSearchParts(t *testing.T) {
	for _, tt := range []struct {
		q    string
		drop []string
		want []string
	}{
		{"alt-friedrichsfelde 11, 10367 berlin", []string{"berlin"}, []string{"alt-friedrichsfelde 11, 10367 "}},
		{"berlin hydrant berlin", []string{"berlin"}, []string{" hydrant "}},
		{"gas street leak street", []string{"street"}, []string{"gas ", " leak "}},
		{"street 12 street", []string{"street"}, nil}, // what is left has no trigram
		{"berliner berlin", []string{"berlin"}, []string{"berliner "}},
		{"öl straße öl", []string{"straße"}, nil},
		{"nothing dropped", []string{"absent"}, []string{"nothing dropped"}},
	} {
		got := searchParts(tt.q, tt.drop)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("searchParts(%q, %q) (-want +got):\n%s", tt.q, tt.drop, diff)
		}
		for _, p := range got {
			if !strings.Contains(tt.q, p) {
				t.Errorf("searchParts(%q): %q is not a substring", tt.q, p)
			}
		}
	}
}
