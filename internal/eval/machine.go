package eval

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// Machine describes where an evaluation ran.
type Machine struct {
	CPU        string `json:"cpu"`          // model name from /proc/cpuinfo ("" when unknown)
	Cores      int    `json:"cores"`        // logical CPUs
	GOMAXPROCS int    `json:"gomaxprocs"`   // Go's thread limit
	GoVersion  string `json:"go_version"`   // the toolchain that built the binary
	OS         string `json:"os"`           // GOOS/GOARCH
	LoadStart  string `json:"load_start"`   // /proc/loadavg when the run started ("" when unknown)
	LoadEnd    string `json:"load_end"`     // and when it ended
	Date       string `json:"date"`         // start of the run, UTC, RFC 3339
	Threads    int    `json:"threads"`      // threads the evaluation used
	Workers    int    `json:"workers"`      // independent single-thread workers (1: matrices split over Threads)
	WallTotalS Num    `json:"wall_total_s"` // the whole run
	CPUTotalS  Num    `json:"cpu_total_s"`  // CPU time of the process over the run
}

func machineInfo() Machine {
	return Machine{
		CPU:        cpuModel(),
		Cores:      runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		GoVersion:  runtime.Version(),
		OS:         runtime.GOOS + "/" + runtime.GOARCH,
		LoadStart:  loadAvg(),
		Date:       time.Now().UTC().Format(time.RFC3339),
	}
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// FileInfo identifies a file by path, size and SHA-256.
type FileInfo struct {
	Path   string `json:"path"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

func fileInfo(path string) (FileInfo, error) {
	fi := FileInfo{Path: path}
	f, err := os.Open(path)
	if err != nil {
		return fi, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return fi, err
	}
	fi.Bytes = n
	fi.SHA256 = hex.EncodeToString(h.Sum(nil))
	return fi, nil
}

// baseName is the last element of a slash- or backslash-separated path.
func baseName(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[i+1:]
	}
	return p
}
