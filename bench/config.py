"""The benchmark's knobs (environment variables BENCH_*), paths, and its two helpers: log and run."""

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
OUT = BENCH / "out"
PY = sys.executable
BIN = Path(PY).parent

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/shop_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/9"
PRODUCTS = int(os.environ.get("BENCH_PRODUCTS", "100000"))
DURATION = int(os.environ.get("BENCH_DURATION", "10"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "2"))
THREADS = int(os.environ.get("BENCH_THREADS", "2"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "16"))
# More buyers than units (a flash sale), and enough units that paid orders/s is measured
# over a burst of some seconds rather than a handful of requests.
BUYERS = int(os.environ.get("BENCH_BUYERS", "1000"))
HOT_STOCK = int(os.environ.get("BENCH_HOT_STOCK", "600"))
SHOPPERS = int(os.environ.get("BENCH_SHOPPERS", "400"))
CORES = os.cpu_count() or 1
WORKERS = int(os.environ.get("BENCH_WORKERS", str(2 * CORES if CORES <= 2 else 2 * CORES + 1)))


def log(message: str) -> None:
    print(f"[bench {datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def run(cmd: list[str], *, env: dict, timeout: float, capture: bool = False) -> str:
    log("$ " + " ".join(cmd[:6]) + (" ..." if len(cmd) > 6 else ""))
    result = subprocess.run(  # noqa: S603 - fixed commands of our own
        cmd, cwd=ROOT, env=env, timeout=timeout, check=False, text=True, capture_output=capture
    )
    if result.returncode != 0:
        if capture:
            sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"bench: {' '.join(cmd[:4])} failed with exit code {result.returncode}")
    return result.stdout if capture else ""
