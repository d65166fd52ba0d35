//go:build !linux

package eval

import "time"

// cpuTime is unknown on this system.
func cpuTime() time.Duration { return 0 }

// threadCPUTime is unknown on this system.
func threadCPUTime() time.Duration { return 0 }
