package procstat

import (
	"os"
	"testing"
	"time"
)

func TestCPUCountsWork(t *testing.T) {
	c0, err := CPU()
	if err != nil {
		t.Fatal(err)
	}
	for start := time.Now(); time.Since(start) < 50*time.Millisecond; {
	}
	c1, _ := CPU()
	if c1-c0 < 20*time.Millisecond {
		t.Errorf("50 ms of spinning counted as %v of CPU", c1-c0)
	}
}

func TestNamedCPUFindsThisProcess(t *testing.T) {
	b, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	comm := string(b[:len(b)-1])
	for start := time.Now(); time.Since(start) < 100*time.Millisecond; {
	}
	if NamedCPU(comm) < 50*time.Millisecond {
		t.Errorf("NamedCPU(%q) = %v after 100 ms of spinning", comm, NamedCPU(comm))
	}
	if NamedCPU("no-such-process-name") != 0 {
		t.Error("a name no process has counted CPU")
	}
}
