package eval

import (
	"syscall"
	"time"
	"unsafe"
)

// Clock ids of clock_gettime(2).
const (
	clockProcessCPUTime = 2
	clockThreadCPUTime  = 3
)

func clockGettime(id uintptr) time.Duration {
	var ts syscall.Timespec
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, id, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		return 0
	}
	return time.Duration(ts.Nano())
}

// cpuTime is the CPU time the process has used, to the nanosecond (0 when
// unknown).
func cpuTime() time.Duration { return clockGettime(clockProcessCPUTime) }

// threadCPUTime is the CPU time the calling OS thread has used (0 when
// unknown); the caller locks its goroutine to the thread.
func threadCPUTime() time.Duration { return clockGettime(clockThreadCPUTime) }
