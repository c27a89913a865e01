package provisioner

import "testing"

func TestKeysSeenIsBounded(t *testing.T) {
	k := newKeysSeen(2)
	if k.has("a") {
		t.Fatal("an empty memory has a")
	}
	k.add("a")
	k.add("b")
	if !k.has("a") || !k.has("b") {
		t.Fatal("a and b were added")
	}
	k.add("c") // full: starts again with c alone
	if k.has("a") || k.has("b") || !k.has("c") {
		t.Fatalf("after the bound: a %v b %v c %v, want only c", k.has("a"), k.has("b"), k.has("c"))
	}
}
