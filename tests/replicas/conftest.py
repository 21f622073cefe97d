"""A real streaming replica of the test PostgreSQL, started for this test run.

`pg_basebackup -R` copies the test server onto a temporary data directory,
which `pg_ctl` starts on a free port in 5440-5449 as a hot standby. It is
added to Django as the alias `replica_test` (a TEST MIRROR of `default`, as
settings make every replica). Skipped, with the reason, where it cannot run:
SQLite, no PostgreSQL server binaries, a remote server, `wal_level` minimal,
or replication connections refused. When only the server's pg_hba.conf lacks
a replication line, one is added for the run and removed (and the server
reloaded) afterwards: the server's configuration is never changed for good.
"""

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

import psycopg
import pytest
from django.conf import settings
from django.db import connections

from shop.core import db as replica_db
from tests.orders.fixtures import rates  # noqa: F401

ALIAS = "replica_test"
PORTS = range(5440, 5450)
HBA_MARKER = "# shop-tests: temporary replication line"


@dataclass
class Replica:
    alias: str
    port: int
    datadir: str
    bindir: str
    run_as: list[str]
    alias_settings: dict = field(default_factory=dict)

    def pg_ctl(self, *args: str) -> None:
        subprocess.run(
            [*self.run_as, f"{self.bindir}/pg_ctl", "-D", self.datadir, "-l", f"{self.datadir}/server.log", *args],
            check=True, capture_output=True, timeout=120,
        )

    def stop(self) -> None:
        connections[self.alias].close()
        self.pg_ctl("-m", "fast", "-w", "stop")
        replica_db.replica_health_forget()

    def start(self) -> None:
        self.pg_ctl("-w", "-t", "60", "start")
        replica_db.replica_health_forget()

    def sql(self, statement: str):
        with psycopg.connect(host="127.0.0.1", port=self.port, user=_primary()["USER"] or "postgres",
                             dbname=_primary()["NAME"], autocommit=True) as conn:
            return conn.execute(statement).fetchone()

    def wait_caught_up(self) -> None:
        """Until the replica has replayed everything the primary has written so far."""
        with psycopg.connect(**_primary_conninfo(), autocommit=True) as conn:
            target = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        for _ in range(600):
            done = self.sql(f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn")[0]
            if done:
                return
            time.sleep(0.05)
        raise AssertionError("the replica did not catch up within 30 s")


def _primary() -> dict:
    return connections["default"].settings_dict


def _primary_conninfo() -> dict:
    primary = _primary()
    info = {"host": primary["HOST"] or "127.0.0.1", "port": int(primary["PORT"] or 5432),
            "user": primary["USER"] or "postgres", "dbname": primary["NAME"]}
    if primary["PASSWORD"]:
        info["password"] = primary["PASSWORD"]
    return info


def _bindir(server_major: int) -> str | None:
    for candidate in sorted(glob.glob(f"/usr/lib/postgresql/{server_major}/bin")) + [
        os.path.dirname(shutil.which("pg_ctl") or "")
    ]:
        if candidate and all(os.access(f"{candidate}/{tool}", os.X_OK) for tool in ("pg_ctl", "pg_basebackup")):
            return candidate
    return None


def _free_port() -> int | None:
    for port in PORTS:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                return port
    return None


def _replication_allowed(info: dict) -> bool:
    try:
        with psycopg.connect(**info, replication="true", autocommit=True) as conn:
            conn.execute("IDENTIFY_SYSTEM")
        return True
    except psycopg.Error:
        return False


@contextlib.contextmanager
def _replication_line(conn, info: dict):
    """Allow replication connections from 127.0.0.1 for the duration, if the server's pg_hba.conf is ours to edit."""
    if _replication_allowed(info):
        yield None
        return
    hba = conn.execute("SHOW hba_file").fetchone()[0]
    if not os.access(hba, os.W_OK):
        pytest.skip(f"replication connections are refused and {hba} is not writable here")
    with open(hba) as handle:
        original = handle.read()
    method = next(
        (line.split()[4] for line in original.splitlines()
         if line.split()[:4] == ["host", "all", "all", "127.0.0.1/32"] and len(line.split()) >= 5),
        None,
    )
    if method is None:
        pytest.skip(f"replication refused and no `host all all 127.0.0.1/32` line in {hba} to copy")
    with open(hba, "a") as handle:
        handle.write(f"\nhost replication {info['user']} 127.0.0.1/32 {method} {HBA_MARKER}\n")
    try:
        conn.execute("SELECT pg_reload_conf()")
        time.sleep(0.5)  # the postmaster rereads pg_hba.conf asynchronously after the signal
        if not _replication_allowed(info):
            pytest.skip("replication connections are refused even with a pg_hba.conf line (check max_wal_senders)")
        yield hba
    finally:
        with open(hba, "w") as handle:
            handle.write(original)
        conn.execute("SELECT pg_reload_conf()")


def _settings_of(conn) -> dict:
    names = ("max_connections", "max_worker_processes", "max_wal_senders", "max_prepared_transactions",
             "max_locks_per_transaction", "wal_level", "server_version_num")
    return {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in names}


def _write_config(datadir: str, port: int, primary: dict) -> None:
    # Debian keeps postgresql.conf and pg_hba.conf in /etc: the copy has none; a hot standby
    # needs these limits at least as high as the primary's.
    with open(f"{datadir}/postgresql.conf", "w") as handle:
        handle.write(
            f"port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{datadir}'\n"
            "hot_standby = on\nfsync = off\nshared_buffers = 16MB\n"
            + "".join(f"{name} = {primary[name]}\n" for name in (
                "max_connections", "max_worker_processes", "max_wal_senders", "max_prepared_transactions",
                "max_locks_per_transaction"))
        )
    with open(f"{datadir}/pg_hba.conf", "w") as handle:
        handle.write("local all all trust\nhost all all 127.0.0.1/32 trust\n")


@pytest.fixture(scope="package")
def replica(replica_server):
    """The running replica, registered as the database alias `replica_test` while this folder's tests run.

    The router sends catalog reads to every `replica_*` alias in DATABASES: registered for the
    whole session, it kept routing the catalog reads of every later test (of other folders) there.
    Package scope, not function scope: pytest-django fixes a test's allowed databases before
    function fixtures run.
    """
    settings.DATABASES[ALIAS] = replica_server.alias_settings
    connections.settings[ALIAS] = replica_server.alias_settings
    replica_db.replica_health_forget()
    try:
        yield replica_server
    finally:
        connections[ALIAS].close()
        settings.DATABASES.pop(ALIAS, None)
        connections.settings.pop(ALIAS, None)
        replica_db.replica_health_forget()


@pytest.fixture(scope="session")
def replica_server(django_db_setup, django_db_blocker):
    """The running replica for the session (a streaming copy of the test database), not yet routed to."""
    if not settings.IS_POSTGRES:
        pytest.skip("read replicas need PostgreSQL (run with DATABASE_URL=postgres://...)")
    info = _primary_conninfo()
    if info["host"] not in ("127.0.0.1", "localhost", "::1"):
        pytest.skip("the test PostgreSQL is not on this machine: pg_basebackup would copy a remote server")
    with psycopg.connect(**{**info, "dbname": "postgres"}, autocommit=True) as conn:
        primary = _settings_of(conn)
        if primary["wal_level"] not in ("replica", "logical") or int(primary["max_wal_senders"]) < 1:
            pytest.skip("the test PostgreSQL has wal_level=minimal or no WAL senders: streaming needs a restart")
        bindir = _bindir(int(primary["server_version_num"]) // 10000)
        if bindir is None:
            pytest.skip("no pg_ctl/pg_basebackup of the server's major version on this machine")
        port = _free_port()
        if port is None:
            pytest.skip("no free port in 5440-5449 for the replica")
        run_as = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            run_as = ["runuser", "-u", "postgres", "--"]
        with _replication_line(conn, info):
            yield from _replica_running(info, primary, bindir, port, run_as)


def _replica_running(info: dict, primary: dict, bindir: str, port: int, run_as: list[str]):
    datadir = tempfile.mkdtemp(prefix="shop-replica-")
    if run_as:
        shutil.chown(datadir, "postgres", "postgres")
    os.chmod(datadir, 0o700)
    env = {**os.environ, "PGPASSWORD": info.get("password", "")}
    subprocess.run(
        [*run_as, f"{bindir}/pg_basebackup", "-h", info["host"], "-p", str(info["port"]), "-U", info["user"],
         "-D", datadir, "-R", "-X", "stream", "-c", "fast"],
        check=True, capture_output=True, timeout=300, env=env,
    )
    _write_config(datadir, port, primary)
    if run_as:
        subprocess.run(["chown", "-R", "postgres:postgres", datadir], check=True)
    alias_settings = {
        **_primary(), "PORT": str(port), "HOST": "127.0.0.1", "CONN_MAX_AGE": 0,
        "OPTIONS": {"connect_timeout": 2}, "TEST": {**_primary()["TEST"], "MIRROR": "default"},
    }
    replica = Replica(alias=ALIAS, port=port, datadir=datadir, bindir=bindir, run_as=run_as,
                      alias_settings=alias_settings)
    replica.start()
    try:
        yield replica
    finally:
        with contextlib.suppress(subprocess.SubprocessError):
            replica.pg_ctl("-m", "immediate", "-w", "stop")
        shutil.rmtree(datadir, ignore_errors=True)
        replica_db.replica_health_forget()
