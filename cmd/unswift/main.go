// Command unswift runs Llama-family language models on the CPU and releases
// them with TaylorMLP-protected MLP weights.
//
// Usage:
//
//	unswift <command> [flags]
//
// Run "unswift help" for the list of commands.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

var commands = []command{
	{"demo", "secure the default model and compare the release with the original", cmdDemo},
	{"run", "generate text from a model or release", cmdRun},
	{"inspect", "show a model's architecture, tensors and tokenizer", cmdInspect},
	{"bench", "measure prompt and generation speed", cmdBench},
	{"synth", "write a random-weight model of a real shape (for speed tests)", cmdSynth},
	{"secure", "calibrate a model and write its TaylorMLP release", cmdSecure},
	{"serve", "OpenAI-compatible local HTTP server with a chat page", cmdServe},
	{"attack", "try to recover the protected weights from a release and report", cmdAttack},
	{"eval", "compare releases with their original: fidelity, tasks, cost, report and plots", cmdEval},
	{"convert", "convert a Hugging Face directory or llama2.c checkpoint to GGUF (and GGUF to a HF directory)", cmdConvert},
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: unswift <command> [flags]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'unswift <command> -h' for a command's flags.")
}

func main() {
	os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
}

// Main runs the command line args and returns the exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		err := c.run(args[1:], stdout, stderr)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			return 2
		}
		fmt.Fprintf(stderr, "error: %s\n", oneLine(err.Error()))
		return 1
	}
	fmt.Fprintf(stderr, "error: unknown command %q (run 'unswift help')\n", args[0])
	return 2
}

// errUsage marks a flag error already reported by the flag package.
var errUsage = errors.New("usage")

func oneLine(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "\n", "; ") }

// newFlags makes a flag set for a command whose errors go to stderr.
func newFlags(name, args string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: unswift %s %s\n\nflags:\n", name, args)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args and rejects leftover positional arguments.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags come as -name value)", fs.Arg(0))
	}
	return nil
}

func timeSeed() int64 { return time.Now().UnixNano() }
