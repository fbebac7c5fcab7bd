"""What /proc says about a process and the CPUs: CPU time, resident memory, per-core busy time."""

import os

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "; fields[0] is the state
    return (int(fields[11]) + int(fields[12])) / _TICK


def status_kib(pid: int, field: str) -> int | None:
    """A kB field of /proc/PID/status (VmHWM: peak resident set, VmRSS: current)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def core_times() -> dict[int, tuple[int, int]]:
    """{cpu: (busy ticks, total ticks)} from /proc/stat."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if not line.startswith("cpu") or line.startswith("cpu "):
                continue
            name, *values = line.split()
            v = [int(x) for x in values]
            idle = v[3] + (v[4] if len(v) > 4 else 0)  # idle + iowait
            total = sum(v[:8])  # guest time is already counted in user
            out[int(name[3:])] = (total - idle, total)
    return out


class CpuWindow:
    """CPU use between start() and stop(): the given processes' CPU seconds and each core's busy share."""

    def __init__(self, pids: dict[str, int]):
        self.pids = pids
        self.result: dict = {}

    def start(self) -> "CpuWindow":
        import time

        self._t = time.perf_counter()
        self._proc = {name: _safe_cpu(pid) for name, pid in self.pids.items()}
        self._cores = core_times()
        return self

    def stop(self) -> dict:
        import time

        wall = time.perf_counter() - self._t
        cores = core_times()
        procs = {}
        for name, pid in self.pids.items():
            before, after = self._proc.get(name), _safe_cpu(pid)
            if before is not None and after is not None:
                procs[name] = {"cpu_s": round(after - before, 3), "cpu_pct": round(100 * (after - before) / wall, 1)}
        busy = {}
        for cpu, (b1, t1) in cores.items():
            b0, t0 = self._cores.get(cpu, (b1, t1))
            busy[f"cpu{cpu}"] = round(100 * (b1 - b0) / (t1 - t0), 1) if t1 > t0 else None
        self.result = {"wall_s": round(wall, 3), "processes": procs, "core_busy_pct": busy}
        return self.result


def _safe_cpu(pid: int) -> float | None:
    try:
        return cpu_seconds(pid)
    except (OSError, ValueError, IndexError):
        return None


def loadavg() -> list[float]:
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]
