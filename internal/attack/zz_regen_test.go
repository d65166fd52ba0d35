package attack

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestZZRegen(t *testing.T) {
	dir := os.Getenv("REGEN")
	if dir == "" {
		t.Skip()
	}
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res Results
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if err := writeResults(dir, &res); err != nil {
		t.Fatal(err)
	}
}
