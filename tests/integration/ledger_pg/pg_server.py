"""A throwaway PostgreSQL cluster for the ledger's tests: initdb in a temp folder, one port, stopped after.

PostgreSQL refuses to run as root, so under root the cluster belongs to the
``postgres`` system user that Debian's package creates. TCP on 127.0.0.1 asks for
a password (scram-sha-256), so the tests can try a wrong one; the unix socket in
the same folder trusts its user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

ADMIN = "ledger_admin"
PASSWORD = "s3cret-Ledger-pw"
SERVER_USER = "postgres"  # the package's system user, used when the tests run as root


def server_binaries() -> Path | None:
    """The folder holding initdb and pg_ctl (the newest installed version), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class PostgresServer:
    bin_dir: Path
    root: Path
    port: int
    run_as: list[str]  # the command prefix that runs a server binary as its owner

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str, *, password: str = PASSWORD) -> str:
        return f"postgresql://{ADMIN}:{password}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        subprocess.run([*self.run_as, *args], check=True, capture_output=True, timeout=60)

    def start(self) -> PostgresServer:
        pwfile = self.root / "pwfile"
        pwfile.write_text(PASSWORD + "\n")
        if self.run_as:
            shutil.chown(self.root, SERVER_USER)
            shutil.chown(pwfile, SERVER_USER)
        self._run(str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", ADMIN, f"--pwfile={pwfile}",
                  "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync", "-E", "UTF8")
        # fsync off: a test cluster that dies is thrown away anyway.
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off")
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.root / "log"),
                  "-w", "-t", "30", "start")
        return self

    def stop(self) -> None:
        subprocess.run([*self.run_as, str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w",
                        "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self, name: str) -> str:
        """A new empty database; returns its URL (with the admin's password)."""
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def start_server() -> PostgresServer:
    """Start a cluster on a free port, as ``postgres`` when running as root.

    Raises:
        RuntimeError: no server binaries, or no unprivileged user to run them as (the reason says which).
    """
    bin_dir = server_binaries()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL server binaries not found: apt-get install postgresql")
    run_as: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            raise RuntimeError("running as root, and runuser is missing to start PostgreSQL as another user")
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            raise RuntimeError(f"running as root, and there is no {SERVER_USER!r} user to run PostgreSQL as") \
                from None
        run_as = ["runuser", "-u", SERVER_USER, "--"]
    root = Path(tempfile.mkdtemp(prefix="stager-ledger-pg-"))
    root.chmod(0o755)
    server = PostgresServer(bin_dir, root, _free_port(), run_as)
    try:
        return server.start()
    except BaseException:
        server.stop()
        raise
