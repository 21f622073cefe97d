"""Load generators: wrk with a Lua script, or Python threads + http.client; one Result per scenario."""

import json
import os
import queue
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.client import HTTPConnection

from bench.config import BENCH, CONNECTIONS, OUT, ROOT, THREADS


def http_request(port: int, method: str, path: str, headers: dict | None = None, body: bytes | None = None):
    conn = HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        # The Host wrk sends (with the port): API answers carry absolute URLs, so their cache keys
        # include the host, and a warm-up under another Host warmed nothing wrk then asked for.
        conn.request(method, path, body=body, headers={"Host": f"127.0.0.1:{port}", **(headers or {})})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@dataclass
class Result:
    name: str
    tool: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int = 0
    statuses: dict = field(default_factory=dict)
    note: str = ""
    orders_per_s: float = 0.0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def python_load(name: str, port: int, requests_iter, *, concurrency: int, duration: float | None) -> Result:
    """Threads + http.client. With `duration`, loop over `requests_iter` (a callable i -> request)
    until time is up; without, send each request of the list `requests_iter` exactly once."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    lock = threading.Lock()
    work: queue.Queue = queue.Queue()
    if duration is None:
        for item in requests_iter:
            work.put(item)
    counter = iter(range(10**9))
    deadline = [0.0]

    def worker():
        nonlocal errors
        while True:
            if duration is None:
                try:
                    method, path, headers, body = work.get_nowait()
                except queue.Empty:
                    return
            else:
                if time.monotonic() >= deadline[0]:
                    return
                with lock:
                    i = next(counter)
                method, path, headers, body = requests_iter(i)
            started = time.perf_counter()
            try:
                status, _ = http_request(port, method, path, headers, body)
            except OSError:
                with lock:
                    errors += 1
                continue
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(elapsed)
                statuses[status] = statuses.get(status, 0) + 1

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    started = time.perf_counter()
    deadline[0] = time.monotonic() + (duration or 0)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=(duration or 0) + 120)
    seconds = time.perf_counter() - started
    return Result(
        name=name,
        tool="python",
        requests=len(latencies),
        seconds=seconds,
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        errors=errors + sum(n for s, n in statuses.items() if s >= 400),
        statuses=statuses,
    )


def wrk_load(wrk: str, name: str, port: int, path: str, script: str, env_extra: dict, duration: int) -> Result:
    cmd = [
        wrk,
        f"-t{THREADS}",
        f"-c{CONNECTIONS}",
        f"-d{duration}s",
        "--timeout",
        "30s",
        "--latency",
        "-s",
        str(BENCH / "lua" / script),
        f"http://127.0.0.1:{port}{path}",
    ]
    env = {**os.environ, **env_extra}
    result = subprocess.run(  # noqa: S603
        cmd, cwd=ROOT, env=env, timeout=duration + 60, capture_output=True, text=True, check=False
    )
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if result.returncode != 0 or line is None:
        raise SystemExit(f"bench: wrk failed for {name}:\n{result.stdout}\n{result.stderr}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    (OUT / f"wrk-{name.replace(' ', '_').replace('/', '_')}.txt").write_text(result.stdout)
    return Result(
        name=name,
        tool="wrk",
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        errors=data["non_2xx"] + data["socket_errors"],
    )


def write_lines(name: str, lines: list) -> str:
    path = OUT / name
    path.write_text("\n".join(str(line) for line in lines) + "\n")
    return str(path)
