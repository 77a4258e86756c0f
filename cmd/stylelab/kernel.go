package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/stylelab/stylelab/kernel/setup"
)

func init() {
	register(&command{name: "kernel", summary: "install, check and serve the GoNB notebook kernel (install | doctor | notebook)", run: runKernel})
}

const kernelUsage = `usage: stylelab kernel install  [--repo DIR] [--db PATH] [--no-apt] [--test-packages]
       stylelab kernel doctor   [--repo DIR]
       stylelab kernel notebook [--repo DIR] [--ip 127.0.0.1] [--port 8888] [-- JUPYTER ARGS...]

install   installs what is missing (Debian's Jupyter packages, GoNB and goimports pinned in tools/go.mod)
          and registers the kernelspec "` + setup.DisplayName + `"; says what it did; safe to repeat
doctor    checks each piece and names the fix for what is missing (exit 1 if anything is)
notebook  starts Jupyter on the notebooks/ folder with that kernel; arguments after -- go to jupyter notebook
          (e.g. -- --NotebookApp.token=SECRET); --allow-root is added when run as root`

func runKernel(args []string) error {
	if len(args) == 0 {
		return usagef("%s", kernelUsage)
	}
	sub, args := args[0], args[1:]
	fs := newFlags("kernel " + sub)
	repo := fs.String("repo", "", "repository root (default: found from the working directory)")
	switch sub {
	case "install":
		db := fs.String("db", "", "tracker database the notebooks record to (default: $STYLELAB_DB, else REPO/runs/stylelab.db)")
		noApt := fs.Bool("no-apt", false, "never run apt-get; fail if Debian packages are missing")
		test := fs.Bool("test-packages", false, "also install the Debian packages the tests need: "+fmt.Sprint(setup.TestPackages))
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		c, err := kernelConfig(fs, *repo)
		if err != nil {
			return err
		}
		if *db != "" {
			if c.DB, err = filepath.Abs(*db); err != nil {
				return err
			}
		}
		if err := setup.Install(c, setup.Options{NoApt: *noApt, TestPackages: *test, Log: os.Stdout}); err != nil {
			return err
		}
		fmt.Printf("done: open notebooks with `make notebook` (or stylelab kernel notebook); check with stylelab kernel doctor\n")
		return nil
	case "doctor":
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		c, err := kernelConfig(fs, *repo)
		if err != nil {
			return err
		}
		if n := setup.PrintChecks(os.Stdout, setup.Doctor(c)); n > 0 {
			return fmt.Errorf("%d piece(s) of the notebook set-up missing; the fix is printed under each", n)
		}
		return nil
	case "notebook":
		ip := fs.String("ip", "127.0.0.1", "address Jupyter listens on (keep 127.0.0.1 outside a container)")
		port := fs.Int("port", 8888, "port Jupyter listens on")
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		c, err := setup.Detect(*repo)
		if err != nil {
			return err
		}
		if _, err := setup.ReadKernelSpec(c); err != nil {
			return fmt.Errorf("the %q kernel is not installed (%v): run stylelab kernel install", setup.KernelName, err)
		}
		jup, err := exec.LookPath("jupyter")
		if err != nil {
			return errors.New("jupyter is not on PATH: run stylelab kernel install")
		}
		argv := []string{jup, "notebook", "--no-browser", "--ip=" + *ip, "--port=" + strconv.Itoa(*port),
			"--notebook-dir=" + filepath.Join(c.Root, "notebooks"),
			"--MappingKernelManager.default_kernel_name=" + setup.KernelName}
		if os.Geteuid() == 0 {
			// Jupyter refuses to start as root without it (containers, CI, a root shell).
			argv = append(argv, "--allow-root")
		}
		argv = append(argv, fs.Args()...)
		fmt.Fprintf(os.Stderr, "starting: %v\n", argv)
		return syscall.Exec(jup, argv, os.Environ())
	default:
		return usagef("unknown kernel command %q\n%s", sub, kernelUsage)
	}
}

func kernelConfig(fs interface{ NArg() int }, repo string) (setup.Config, error) {
	if fs.NArg() > 0 {
		return setup.Config{}, usagef("unexpected arguments\n%s", kernelUsage)
	}
	return setup.Detect(repo)
}
