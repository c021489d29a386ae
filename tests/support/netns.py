"""Hosts made of Linux network namespaces, for the cross-host test (needs root and `ip`).

Each host is a namespace with a veth pair whose other end sits on a bridge in the
test's own namespace, so the test reaches every host and the hosts reach each
other; cutting a host's link is `ip link set <its bridge end> down`. Processes are
started inside a host with `ip netns exec`; `kill_all` SIGKILLs every process
in the namespace (what losing the machine does to them).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SUBNETS = range(231, 251)  # 10.N.0.0/24, the first one free


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=check, capture_output=True, text=True)


def unavailable() -> str | None:
    """Why namespaces cannot be built here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    if shutil.which("ip") is None:
        return "needs the `ip` command (iproute2)"
    return None


@dataclass
class Host:
    name: str  # one letter
    ns: str
    address: str
    link: str  # the veth end on the bridge
    procs: list[subprocess.Popen] = field(default_factory=list)

    def popen(self, args, log: Path, env=None, cwd=None) -> subprocess.Popen:
        out = open(log, "ab")
        proc = subprocess.Popen(["ip", "netns", "exec", self.ns, *args], stdout=out,
                                stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                start_new_session=True)
        self.procs.append(proc)
        return proc

    def run(self, args, env=None, cwd=None, timeout=120) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", self.ns, *args], env=env, cwd=cwd,
                              capture_output=True, text=True, timeout=timeout, check=True)

    def pids(self) -> list[int]:
        out = run("ip", "netns", "pids", self.ns, check=False).stdout
        return [int(p) for p in out.split()]

    def kill_all(self) -> int:
        """SIGKILL every process in this host until none is left; how many there were."""
        killed = set()
        for _ in range(50):
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.add(pid)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)
        for proc in self.procs:
            proc.poll()
        self.procs = [p for p in self.procs if p.returncode is None]
        return len(killed)

    def link_down(self) -> None:
        run("ip", "link", "set", self.link, "down")

    def link_up(self) -> None:
        run("ip", "link", "set", self.link, "up")


def sweep_stale() -> None:
    """Remove what a killed earlier run left (namespaces with no process, their bridge):
    a stale bridge on the same subnet would take the traffic meant for this run."""
    live = set()
    for ns in run("ip", "netns", "list", check=False).stdout.split("\n"):
        name = ns.split(" ")[0]
        if not name.startswith("sop-"):
            continue
        if run("ip", "netns", "pids", name, check=False).stdout.strip():
            live.add(name.rsplit("-", 1)[-1])
        else:
            run("ip", "netns", "del", name, check=False)
    for line in run("ip", "-br", "link", "show", "type", "bridge", check=False).stdout.splitlines():
        bridge = line.split(" ")[0]
        if bridge.startswith("sb") and bridge[2:] not in live:
            run("ip", "link", "del", bridge, check=False)


def free_subnet() -> int:
    routes = run("ip", "route", check=False).stdout
    return next(n for n in SUBNETS if f"10.{n}.0.0/24" not in routes)


class Network:
    """A bridge with hosts on it; `close()` removes everything it made."""

    def __init__(self, tag: str):
        sweep_stale()
        self.tag, self.subnet = tag, free_subnet()
        self.bridge = f"sb{tag}"
        self.hosts: dict[str, Host] = {}
        self.gateway = f"10.{self.subnet}.0.1"
        run("ip", "link", "add", self.bridge, "type", "bridge")
        run("ip", "addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        run("ip", "link", "set", self.bridge, "up")

    def add_host(self, name: str, number: int) -> Host:
        ns, outer, inner = f"sop-{name}-{self.tag}", f"s{self.tag}{name}", f"s{self.tag}{name}i"
        address = f"10.{self.subnet}.0.{number}"
        run("ip", "netns", "add", ns)
        run("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
        run("ip", "link", "set", inner, "netns", ns)
        run("ip", "link", "set", outer, "master", self.bridge)
        run("ip", "link", "set", outer, "up")
        for args in (("ip", "link", "set", "lo", "up"),
                     ("ip", "addr", "add", f"{address}/24", "dev", inner),
                     ("ip", "link", "set", inner, "up"),
                     ("ip", "route", "add", "default", "via", self.gateway)):
            run("ip", "netns", "exec", ns, *args)
        host = Host(name, ns, address, outer)
        self.hosts[name] = host
        return host

    def close(self) -> None:
        for host in self.hosts.values():
            host.kill_all()
            run("ip", "link", "del", host.link, check=False)
            run("ip", "netns", "del", host.ns, check=False)
        run("ip", "link", "del", self.bridge, check=False)
