"""Helpers shared by the benchmarks: /proc readers, the machine's description, percentiles, the
testbed's registry.env, and a testbed registry of the benchmark's own."""

import math
import os
import platform
import subprocess

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(BENCH_DIR)
TESTBED_SCRIPTS = os.path.join(SOURCE_DIR, "test", "testbed")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def percentile(values, p):
    """Returns the nearest-rank percentile p, in (0, 100], of values."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def summary_ms(seconds):
    """Summarizes durations in seconds as their count, p50, p99 and max in milliseconds."""
    return {"n": len(seconds), "p50_ms": percentile(seconds, 50) * 1e3,
            "p99_ms": percentile(seconds, 99) * 1e3, "max_ms": max(seconds) * 1e3}


def cpu_seconds(pid):
    """Returns the user plus system CPU time of process pid, in seconds (clock-tick resolution)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def status_kib(pid, field):
    """Returns a size field of /proc/<pid>/status, such as VmRSS, in KiB (0 when it is missing)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def load_average():
    """Returns the 1, 5 and 15 minute load averages."""
    with open("/proc/loadavg") as f:
        return [float(value) for value in f.read().split()[:3]]


def machine_description():
    """Returns the CPU model, the number of cores and the kernel release."""
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{cpu}, {os.cpu_count()} cores, Linux {platform.release()}"


def read_env(path):
    """Returns the variables of a registry.env file written by test/testbed/start-registry.sh."""
    values = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("export "):
                name, _, value = line[len("export "):].partition("=")
                values[name] = value.strip("'\"")
    return values


class Testbed:
    """A testbed registry of the benchmark's own, in directory on ports from port_base, with
    the test images. start() returns its registry.env values; stop() purges it."""

    def __init__(self, directory, port_base, log_path=os.devnull):
        self.env_vars = dict(os.environ, TESTBED_DIR=directory, TESTBED_PORT_BASE=str(port_base))
        self.directory = directory
        self.log_path = log_path
        self.env = None

    def start(self):
        with open(self.log_path, "w") as log:
            for script in ("start-registry.sh", "make-images.sh"):
                result = subprocess.run([os.path.join(TESTBED_SCRIPTS, script)],
                                        env=self.env_vars, stdout=log, stderr=subprocess.STDOUT)
                if result.returncode != 0:
                    self.stop()
                    raise RuntimeError(f"{script} failed with {result.returncode}; "
                                       f"see {self.log_path}")
        self.env = read_env(os.path.join(self.directory, "registry.env"))
        return self.env

    def stop(self):
        subprocess.run([os.path.join(TESTBED_SCRIPTS, "stop-registry.sh"), "--purge"],
                       env=self.env_vars, stdout=subprocess.DEVNULL)
