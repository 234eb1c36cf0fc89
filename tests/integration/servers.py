"""Private Redis and PostgreSQL servers a test may restart (or empty) without disturbing the shared ones."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PrivateRedis:
    """A redis-server of this test alone, on its own port, keeping nothing on disk."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("private redis did not start")

    def restart_empty(self) -> None:
        """Kill it (no save) and start it again with nothing in it, as after a crash."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)
        self.start()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


class PrivatePostgres:
    """A PostgreSQL cluster of this test alone (initdb in a temporary folder, run as user postgres)."""

    def __init__(self) -> None:
        binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        if not binaries:
            raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql")
        self.bin = binaries[-1]
        self.folder = Path(tempfile.mkdtemp(prefix="msi-pg-"))
        shutil.chown(self.folder, "postgres")
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self._as_postgres(f"{self.bin}/initdb -D {self.folder}/data -A trust -U postgres")
        self.start()

    def _as_postgres(self, command: str) -> None:
        runner = ["su", "postgres", "-s", "/bin/sh", "-c", command] if os.geteuid() == 0 else ["sh", "-c", command]
        subprocess.run(runner, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _ctl(self, action: str) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        self._as_postgres(f"{self.bin}/pg_ctl -D {self.folder}/data -o '{options}' -l {self.folder}/log -w {action}")

    def start(self) -> None:
        self._ctl("start")

    def restart(self) -> None:
        """Stop it immediately (connections cut, as in a crash) and start it again."""
        self._ctl("stop -m immediate")
        self._ctl("start")

    def stop(self) -> None:
        try:
            self._ctl("stop -m immediate")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
