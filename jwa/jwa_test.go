package jwa

import (
	"slices"
	"testing"
)

func TestListsAreDisjointAndNeverNone(t *testing.T) {
	for _, alg := range ClientAssertion() {
		if alg == "none" || alg == "" {
			t.Fatalf("%q must never be listed", alg)
		}
		if IsAsymmetric(alg) == IsHMAC(alg) {
			t.Errorf("%s is in both or neither list", alg)
		}
	}
	if IsAsymmetric("HS256") || IsHMAC("ES256") || IsAsymmetric("none") || IsHMAC("none") {
		t.Fatal("an algorithm is in the wrong family")
	}
}

func TestCopiesCannotWidenTheList(t *testing.T) {
	got := Asymmetric()
	got[0] = "none"
	if IsAsymmetric("none") || !slices.Contains(Asymmetric(), "RS256") {
		t.Fatal("changing a returned list changed the package's list")
	}
}
