//go:build !amd64 || noasm

package kernel

// impls lists every implementation this build can run, best last.
func impls() []*impl { return []*impl{goImpl} }

func spinPause() {}

// prefetchBytes is a no-op without assembly.
func prefetchBytes(b []byte) {}
