"""`make bench`: the shop under gunicorn over PostgreSQL + Redis, measured against a bare Django view.

Steps (each bounded in time):
 1. DATABASE_URL (PostgreSQL) and REDIS_URL, defaults postgres://postgres@127.0.0.1:5432/shop_bench
    and redis://127.0.0.1:6379/9; the database is created if missing, migrated, and seeded with
    BENCH_PRODUCTS (100,000) products by `manage.py seed_catalog` unless already there.
 2. Per run: fresh users with app sessions (X-Session-Token), funded wallets and the hot product
    of a flash sale in their carts (bench/prepare.py, through the shop's services).
 3. gunicorn (sync workers, 2 x cores, DEBUG=0) on a free port of 127.0.0.1, with
    bench.settings: the shop's settings and URLs plus `bench/bare/` (one query, same middleware).
 4. wrk (installed with apt-get if missing; else a Python load generator) runs each read and
    add-to-cart scenario for BENCH_DURATION seconds with 2 threads x 16 connections; the flash
    sale checkout (every buyer posts one wallet checkout of the hot product at once) is a burst
    sent by the Python load generator and compared with the bare view measured by that same
    generator. Oversell is counted from the database afterwards.
 5. One markdown table on stdout and in bench/RESULTS.md, with the machine and peak RSS
    (VmHWM) of each gunicorn worker.
"""

import json
import os
import platform
import queue
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.client import HTTPConnection
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


# --- services -------------------------------------------------------------------------


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database named in `url` if it does not exist."""
    import psycopg

    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        raise SystemExit(f"bench: DATABASE_URL must be PostgreSQL, got {parts.scheme}://")
    name = parts.path.lstrip("/")
    admin = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            log(f"creating database {name}")
            conn.execute(f'CREATE DATABASE "{name}"')  # noqa: S608 - name from our own URL, quoted


def postgres_version(url: str) -> str:
    import psycopg

    with psycopg.connect(url, connect_timeout=10) as conn:
        return conn.execute("SHOW server_version").fetchone()[0]


def redis_reset(url: str) -> str:
    """Empty the bench's own Redis database (cache, queued tasks of earlier runs); return the version."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=10)
    try:
        client.flushdb()
        return client.info("server").get("redis_version", "?")
    finally:
        client.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_wrk() -> str:
    """Path of wrk, installing Debian's package when possible; '' means use the Python generator."""
    found = shutil.which("wrk")
    if found or os.environ.get("BENCH_NO_WRK"):
        return "" if os.environ.get("BENCH_NO_WRK") else found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log("wrk is missing: apt-get install -y wrk")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env, timeout=300, check=False)  # noqa: S607
        if subprocess.run(["which", "wrk"], capture_output=True, check=False).returncode != 0:  # noqa: S607
            subprocess.run(["apt-get", "update", "-qq"], env=env, timeout=300, check=False)  # noqa: S607
            subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env, timeout=300, check=False)  # noqa: S607
    return shutil.which("wrk") or ""


class Gunicorn:
    def __init__(self, env: dict, port: int):
        self.port = port
        self.log_path = OUT / "gunicorn.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        cmd = [
            str(BIN / "gunicorn"),
            "shop.wsgi:application",
            "--workers",
            str(WORKERS),
            "--bind",
            f"127.0.0.1:{port}",
            "--env",
            "DJANGO_SETTINGS_MODULE=bench.settings",
            "--backlog",
            "2048",
            "--timeout",
            "60",
            "--log-level",
            "warning",
        ]
        log(f"gunicorn: {WORKERS} sync workers on 127.0.0.1:{port}")
        self.process = subprocess.Popen(  # noqa: S603
            cmd, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"bench: gunicorn exited:\n{self.log_path.read_text(errors='replace')[-3000:]}")
            try:
                status, _body = http_request(self.port, "GET", "/healthz")
                if status == 200:
                    if len(self.worker_pids()) >= WORKERS:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise SystemExit(f"bench: gunicorn not healthy in {timeout} s:\n{self.log_path.read_text(errors='replace')[-3000:]}")

    def worker_pids(self) -> list[int]:
        try:
            children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        except OSError:
            return []
        return [int(pid) for pid in children]

    def peak_rss_mib(self) -> dict[int, float]:
        peaks = {}
        for pid in self.worker_pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
            if match:
                peaks[pid] = int(match.group(1)) / 1024
        return peaks

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._log.close()


# --- load generators --------------------------------------------------------------------


def http_request(port: int, method: str, path: str, headers: dict | None = None, body: bytes | None = None):
    conn = HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(method, path, body=body, headers={"Host": "127.0.0.1", **(headers or {})})
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


# --- the run -------------------------------------------------------------------------------


def bench_env(database_url: str, redis_url: str) -> dict:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "SECURE_HSTS_SECONDS": "0",
        "STATIC_MANIFEST": "0",
        "PSP_SANDBOX_ENABLED": "1",  # the provider is the sandbox on the same server
        "THROTTLE_ANON": "100000000/min",
        "THROTTLE_USER": "100000000/min",
        "THROTTLE_CHECKOUT": "100000000/min",
        "CACHE_KEY_PREFIX": "bench",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "DB_POOL_MIN_SIZE": "1",
        "DB_POOL_MAX_SIZE": "4",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return env


def write_lines(name: str, lines: list) -> str:
    path = OUT / name
    path.write_text("\n".join(str(line) for line in lines) + "\n")
    return str(path)


def machine(database_url: str, redis_version: str, wrk: str) -> dict:
    cpu = "?"
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    mem = "?"
    try:
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, AttributeError):
        pass
    import django
    import gunicorn

    wrk_version = ""
    if wrk:
        out = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)  # noqa: S603
        wrk_version = (out.stdout + out.stderr).split("\n")[0].strip()
    return {
        "cpu": cpu,
        "cores": CORES,
        "memory": mem,
        "os": platform.platform(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "gunicorn": gunicorn.__version__,
        "postgresql": postgres_version(database_url),
        "redis": redis_version,
        "load generator": wrk_version or "python threads + http.client",
        "load average at start (1/5/15 min)": LOAD_AT_START,
    }


LOAD_AT_START = ""


def main() -> int:
    global LOAD_AT_START
    LOAD_AT_START = " / ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "?"
    database_url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    redis_url = os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    OUT.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    ensure_database(database_url)
    redis_version = redis_reset(redis_url)
    env = bench_env(database_url, redis_url)
    manage = [PY, "manage.py"]
    run([*manage, "migrate", "--noinput", "-v", "0"], env=env, timeout=900)

    have = json.loads(run([PY, "-m", "bench.prepare", "status"], env=env, timeout=120, capture=True))["products"]
    if have < PRODUCTS:
        log(f"seeding the catalogue: {have} active products, want {PRODUCTS}")
        run([*manage, "seed_catalog", "--products", str(PRODUCTS - have)], env=env, timeout=3600)
    else:
        log(f"catalogue already seeded: {have} active products")

    run_id = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    fixtures_path = OUT / f"fixtures-{run_id}.json"
    run(
        [
            PY, "-m", "bench.prepare", "setup", "--run", run_id, "--out", str(fixtures_path),
            "--checkout-users", str(BUYERS), "--cart-users", str(SHOPPERS), "--hot-stock", str(HOT_STOCK),
        ],
        env=env,
        timeout=900,
    )
    fx = json.loads(fixtures_path.read_text())

    wrk = ensure_wrk()
    info = machine(database_url, redis_version, wrk)
    slugs = fx["detail_slugs"]
    terms = fx["search_terms"]
    pages = range(1, 21)
    category = fx["category_slug"]
    list_page = f"/c/{category}/" if category else "/"
    cold = fx["cold_slugs"]
    half = len(cold) // 2
    # Uncached search: every request a question never asked before (a common word and a price
    # floor of its own), so neither the answer nor its facets can come from the cache.
    uncached = [(terms[i % len(terms)], f"{i // len(terms) / 100:.2f}") for i in range(20000)]
    scenarios = [
        ("bare view (1 query)", "/bench/bare/", None, {}),
        ("product list (API)", "/api/v1/products/", [f"/api/v1/products/?page={p}" for p in pages], {}),
        ("product list (page)", list_page, [f"{list_page}?page={p}" for p in pages], {}),
        ("search (page)", "/search/", [f"/search/?q={urllib.parse.quote(t)}" for t in terms], {}),
        ("search (API)", "/api/v1/products/", [f"/api/v1/products/?search={urllib.parse.quote(t)}" for t in terms], {}),
        ("search (API), uncached", "/api/v1/products/",
         [f"/api/v1/products/?search={urllib.parse.quote(t)}&min_price={p}" for t, p in uncached], {"cold": True}),
        ("product detail (page)", "/p/", [f"/p/{s}/" for s in slugs], {"warm": True}),
        ("product detail (API)", "/api/v1/products/", [f"/api/v1/products/{s}/" for s in slugs], {"warm": True}),
        ("product detail (page), first view", "/p/", [f"/p/{s}/" for s in cold[:half]], {"cold": True}),
        ("product detail (API), first view", "/api/v1/products/",
         [f"/api/v1/products/{s}/" for s in cold[half:]], {"cold": True}),
    ]

    server = Gunicorn(env, free_port())
    results: list[Result] = []
    try:
        server.wait_ready()
        port = server.port
        for name, path, paths, how in scenarios:
            extra = {"BENCH_PATHS": write_lines(f"paths-{len(results)}.txt", paths)} if paths else {}
            first = (paths or [path])[-1]  # the last path: a first view stays a first view
            status, body = http_request(port, "GET", first)
            if status != 200:
                raise SystemExit(f"bench: {name}: GET {first} answered {status}: {body[:300]!r}")
            if how.get("warm"):
                # The popular set, each page seen once already (as a long-running shop has).
                python_load(
                    name + " warm-up", port, [("GET", p, {}, None) for p in paths],
                    concurrency=CONNECTIONS, duration=None,
                )
            if wrk:
                if WARMUP and not how.get("cold"):
                    wrk_load(wrk, name + " warmup", port, path, "get.lua", extra, WARMUP)
                result = wrk_load(wrk, name, port, path, "get.lua", extra, DURATION)
            else:
                cycle = paths or [path]
                result = python_load(
                    name, port, lambda i, c=cycle: ("GET", c[i % len(c)], {}, None),
                    concurrency=CONNECTIONS, duration=DURATION,
                )
            log(f"{name}: {result.rps:.0f} req/s, p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms")
            results.append(result)

        # Add to cart: signed-in app users, one unit of a random in-stock product each time.
        cart_env = {
            "BENCH_TOKENS": write_lines("shopper-tokens.txt", fx["shopper_tokens"]),
            "BENCH_PRODUCTS": write_lines("cart-products.txt", fx["cart_product_ids"]),
        }
        probe = json.dumps({"product": fx["cart_product_ids"][0], "quantity": 1}).encode()
        status, body = http_request(
            port, "POST", "/api/v1/cart/lines/",
            {"Content-Type": "application/json", "X-Session-Token": fx["shopper_tokens"][0]}, probe,
        )
        if status != 201:
            raise SystemExit(f"bench: add to cart answered {status}: {body[:300]!r}")
        if wrk:
            result = wrk_load(wrk, "add to cart (API)", port, "/api/v1/cart/lines/", "cart_add.lua", cart_env, DURATION)
        else:
            tokens, products = fx["shopper_tokens"], fx["cart_product_ids"]
            result = python_load(
                "add to cart (API)", port,
                lambda i: (
                    "POST", "/api/v1/cart/lines/",
                    {"Content-Type": "application/json", "X-Session-Token": tokens[i % len(tokens)]},
                    json.dumps({"product": products[i % len(products)], "quantity": 1}).encode(),
                ),
                concurrency=CONNECTIONS, duration=DURATION,
            )
        log(f"add to cart: {result.rps:.0f} req/s, p50 {result.p50_ms:.1f} ms, errors {result.errors}")
        results.append(result)

        # The same generator as the checkout burst measures its own baseline.
        py_bare = python_load(
            "bare view (1 query), python generator", port, lambda i: ("GET", "/bench/bare/", {}, None),
            concurrency=CONNECTIONS, duration=min(DURATION, 5),
        )
        log(f"bare (python): {py_bare.rps:.0f} req/s, p50 {py_bare.p50_ms:.1f} ms")

        address = {
            "full_name": "Bench Buyer", "line1": "1 Main Street", "city": "Springfield",
            "postal_code": "12345", "country": "US",
        }
        body = json.dumps({"payment_method": "wallet", "shipping_address": address}).encode()
        burst = [
            (
                "POST", "/api/v1/orders/",
                {"Content-Type": "application/json", "X-Session-Token": token, "Idempotency-Key": uuid.uuid4().hex},
                body,
            )
            for token in fx["buyer_tokens"]
        ]
        checkout = python_load("checkout, wallet, flash sale (API)", port, burst, concurrency=CONNECTIONS, duration=None)
        log(f"checkout: {checkout.rps:.0f} req/s, statuses {checkout.statuses}")
        memory = server.peak_rss_mib()
    finally:
        server.stop()

    verdict = json.loads(
        run(
            [PY, "-m", "bench.prepare", "verify", "--hot-product", str(fx["hot_product_id"]),
             "--initial-stock", str(fx["hot_stock"])],
            env=env, timeout=120, capture=True,
        )
    )
    created = checkout.statuses.get(201, 0)
    conflicts = checkout.statuses.get(409, 0)
    checkout.errors = sum(n for s, n in checkout.statuses.items() if s not in (201, 409)) + (
        len(burst) - checkout.requests
    )
    checkout.orders_per_s = created / checkout.seconds if checkout.seconds else 0.0
    checkout.note = (
        f"{len(burst)} buyers, {fx['hot_stock']} units: {created} x 201, {conflicts} x 409 out_of_stock "
        f"in {checkout.seconds:.1f} s ({checkout.orders_per_s:.0f} paid orders/s); "
        f"paid units {verdict['paid_units']}, oversell {verdict['oversell']}"
    )
    info["load average at end (1/5/15 min)"] = " / ".join(Path("/proc/loadavg").read_text().split()[:3])
    report = render(results, py_bare, checkout, verdict, memory, info, fx, elapsed=time.monotonic() - started)
    print(report)
    (BENCH / "RESULTS.md").write_text(report)
    log("wrote bench/RESULTS.md")
    if verdict["oversell"] != 0 or verdict["on_hand"] < 0 or verdict["reserved"] < 0:
        log(f"OVERSOLD: {verdict}")
        return 1
    return 0


def targets(results: list, checkout: Result, verdict: dict) -> list[str]:
    """The issue's targets for a 2-core machine, each with the figure of this run."""
    by_name = {r.name: r for r in results}
    bare = results[0]
    rows = []

    def check(label: str, measured: str, met: bool) -> None:
        rows.append(f"| {label} | {measured} | {'yes' if met else '**no**'} |")

    for name in ("product list (API)", "product list (page)", "product detail (page)"):
        if name in by_name:
            ratio = by_name[name].rps / bare.rps if bare.rps else 0
            check(f"{name} >= 0.3x the bare view", f"{ratio:.2f}x", ratio >= 0.3)
    for name, r in by_name.items():
        if name.startswith("search"):
            check(f"{name}: p99 < 50 ms", f"{r.p99_ms:.1f} ms", r.p99_ms < 50)
    check(
        "checkout on a hot product >= 100 orders/s, 0 oversold",
        f"{checkout.orders_per_s:.0f} orders/s, oversell {verdict['oversell']}",
        checkout.orders_per_s >= 100 and verdict["oversell"] == 0,
    )
    worst = max([*results, checkout], key=lambda r: r.p99_ms)
    check("every p99 < 250 ms", f"worst: {worst.name}, {worst.p99_ms:.1f} ms", worst.p99_ms < 250)
    return rows


def render(results, py_bare, checkout, verdict, memory, info, fx, *, elapsed: float) -> str:
    base = results[0]

    def row(r: Result, baseline: Result) -> str:
        rps_ratio = r.rps / baseline.rps if baseline.rps else 0
        lat_ratio = r.p50_ms / baseline.p50_ms if baseline.p50_ms else 0
        return (
            f"| {r.name} | {r.tool} | {r.requests} | {r.rps:,.0f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} | "
            f"{rps_ratio:.2f} | {lat_ratio:.1f} | {r.errors} |"
        )

    lines = [
        "# Benchmark results",
        "",
        f"Run {fx['run']} (UTC), `make bench` (`python -m bench`), {elapsed / 60:.1f} minutes in all.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *[f"| {key} | {value} |" for key, value in info.items()],
        "",
        "## Set-up",
        "",
        f"- {fx['products']:,} active products in PostgreSQL; Redis cache and broker; no Celery worker running "
        "(tasks queued by requests wait in Redis, as they would for a busy worker).",
        f"- gunicorn, {WORKERS} sync workers for {CORES} cores, DEBUG=0, bench.settings "
        "(the shop's settings + `bench/bare/`), throttles raised for the run.",
        f"- Load on the same machine: wrk, {THREADS} threads x {CONNECTIONS} connections, {DURATION} s per "
        f"scenario after a {WARMUP} s warm-up; paths rotate over 20 list pages, "
        f"{len(fx['search_terms'])} common search words and {len(fx['detail_slugs']):,} popular products "
        "(each page viewed once before the run, as in a shop that has been up a while). The *uncached* and "
        "*first view* rows have no warm-up and never repeat a request: each search is a question not asked "
        f"before (a common word with its own price floor), each product one of {len(fx['cold_slugs']):,} "
        f"others seen for the first time. Add to cart: {len(fx['shopper_tokens'])} signed-in app users "
        "(X-Session-Token), one unit of a random in-stock product per request.",
        f"- Checkout: flash sale of one hot product with {fx['hot_stock']} units; {len(fx['buyer_tokens'])} buyers "
        "with funded wallets and the product in their carts each POST /api/v1/orders/ once (wallet payment, "
        f"Idempotency-Key), {CONNECTIONS} at a time, sent by the Python generator (threads + http.client); "
        "its ratios are to the bare view measured by the same generator.",
        "",
        "## Results",
        "",
        "Ratios: req/s as a share of the bare view's; p50 as a multiple of the bare view's.",
        "",
        "| scenario | tool | requests | req/s | p50 ms | p99 ms | req/s vs bare | p50 vs bare | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        *[row(r, base) for r in results],
        row(py_bare, py_bare),
        row(checkout, py_bare),
        "",
        f"Flash sale: {checkout.note}. Stock afterwards: on hand {verdict['on_hand']}, reserved "
        f"{verdict['reserved']}; orders left pending payment: {verdict['pending_orders']}. "
        f"**Oversell: {verdict['oversell']}.**",
        "",
        "Errors are non-2xx answers and socket errors (for checkout: anything but 201 and 409, and requests "
        "that got no answer).",
        "",
        "## Targets",
        "",
        "| target | measured | met |",
        "|---|---|---|",
        *targets(results, checkout, verdict),
        "",
        "## Memory",
        "",
        "Peak resident set size (VmHWM) per gunicorn worker at the end of the run: "
        + ", ".join(f"{mib:.0f} MiB" for mib in sorted(memory.values()))
        + (f" (max {max(memory.values()):.0f} MiB, mean {statistics.mean(memory.values()):.0f} MiB)." if memory else "."),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
