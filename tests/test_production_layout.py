"""deploy/production/: the supervisord programs, the systemd units and the env file loader."""
import os
import subprocess
from pathlib import Path

from jobs.queues import MAX_JOB_TIMEOUT
from tests.test_schedule import _programs as supervisord_programs

ROOT = Path(__file__).resolve().parents[1]
PROD = ROOT / "deploy" / "production"


def test_supervisord_runs_web_both_worker_kinds_and_a_scheduler():
    programs = supervisord_programs(PROD / "supervisord.conf")
    assert set(programs) == {"web", "worker-send", "worker-engine", "scheduler"}
    for name, p in programs.items():
        assert p["stopsignal"] == "TERM", name
        assert p["stopasgroup"] == "true" and p["killasgroup"] == "true", name
        assert p["autorestart"] == "true", name
        assert "deploy/production/sop-run" in p["command"], name
    for name in ("worker-send", "worker-engine"):
        assert int(programs[name]["stopwaitsecs"]) > MAX_JOB_TIMEOUT, name
    assert programs["worker-send"]["command"].endswith("send-worker")
    assert programs["worker-engine"]["command"].endswith("engine-worker")
    assert programs["scheduler"]["command"].endswith("scheduler")


def test_systemd_units_read_the_env_file_and_let_workers_finish():
    units = {p.name: p.read_text() for p in (PROD / "systemd").iterdir()}
    assert {"sop.target", "sop-web.service", "sop-send-worker@.service",
            "sop-engine-worker@.service", "sop-scheduler.service"} <= set(units)
    for name in ("sop-web.service", "sop-send-worker@.service", "sop-engine-worker@.service",
                 "sop-scheduler.service"):
        assert "EnvironmentFile=/etc/sop/sop.env" in units[name], name
        assert "KillSignal=SIGTERM" in units[name], name
    for name in ("sop-send-worker@.service", "sop-engine-worker@.service"):
        stop = next(line for line in units[name].splitlines() if line.startswith("TimeoutStopSec="))
        assert int(stop.split("=")[1]) > MAX_JOB_TIMEOUT, name


def test_env_file_values_are_taken_literally(tmp_path):
    """A rediss:// URL with `&` in it reaches the process unchanged (no shell parsing)."""
    url = "rediss://:p%40ss@redis.internal:6380/0?ssl_cert_reqs=required&ssl_ca_certs=/x.crt"
    env_file = tmp_path / "sop.env"
    env_file.write_text(f"# comment\n\nDATABASE_URL=postgresql://u:p@db/sop\nREDIS_URL={url}\n"
                        "SECRET_KEY=abc $HOME `x`\n")
    out = subprocess.run(
        ["bash", "-c", f'. {PROD / "env.sh"} && load_env "$1" && '
         'printf "%s\\n%s\\n" "$REDIS_URL" "$SECRET_KEY"', "_", str(env_file)],
        capture_output=True, text=True, check=True, env={"PATH": os.environ["PATH"]}).stdout
    assert out.splitlines() == [url, "abc $HOME `x`"]


def test_sop_run_refuses_to_start_without_the_environment():
    result = subprocess.run([str(PROD / "sop-run"), "web"], capture_output=True, text=True,
                            env={"PATH": os.environ["PATH"]})
    assert result.returncode != 0
    assert "DATABASE_URL is not set" in result.stderr
