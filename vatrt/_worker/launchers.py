"""Launchers: what starts a vat host, and starts it again when it dies.

The interface is one coroutine, `keep_running(plan)`: it runs in the kernel's
task group for the kernel's life, gets the host going with the plan (the
kernel's address, the host's name and secret, its resources), brings it back
whenever it ends, and stops and cleans up when cancelled. Everything else (the
link, the handshake, replaying vats onto a host that came back) is the
kernel's, so another launcher (Kubernetes, ssh) is only this coroutine.

``local``: the host is a process of this machine, on loopback; ``ray``: a Ray
actor (`vatrt._worker.ray_launcher`, in the ``vatrt[ray]`` extra).
"""

from __future__ import annotations

from typing import Any, Protocol

import anyio
from anyio.abc import Process

from .hostframes import EXIT_REFUSED
from .processes import child_command, child_environment

_HOST_MODULE = "vatrt._worker.host"
_BACKOFF_S = (0.05, 0.2, 0.5, 1.0, 2.0)


class Launcher(Protocol):
    async def keep_running(self, plan: Any) -> None:
        """Start the host of `plan` (a `remote.HostPlan`), restart it whenever it
        ends, stop it when cancelled."""
        ...


def host_environment(plan: Any) -> dict[str, str]:
    """What a host process is started with: a child's scrubbed environment and
    how to reach and prove itself to its kernel."""
    env = child_environment()
    host, port = plan.address
    env["VATRT_HOST_ADDRESS"] = f"{host}:{port}"
    env["VATRT_HOST_NAME"] = plan.name
    env["VATRT_HOST_SECRET"] = plan.secret
    if plan.tls_ca:
        env["VATRT_HOST_TLS_CA"] = plan.tls_ca
    return env


class LocalLauncher:
    """Hosts as processes of this machine. They die with the kernel's process
    (PR_SET_PDEATHSIG) and are reaped when the kernel closes."""

    def __init__(self) -> None:
        self.process: Process | None = None
        self.starts = 0

    async def keep_running(self, plan: Any) -> None:
        env = host_environment(plan)
        env["VATRT_HOST_DIE_WITH_PARENT"] = "1"
        failures = 0
        try:
            while True:
                # Shielded: cancelled inside `open_process`, a started host would
                # be left running and never reaped.
                with anyio.CancelScope(shield=True):
                    self.process = process = await anyio.open_process(
                        child_command(_HOST_MODULE),
                        stdin=-1,
                        stdout=None,
                        stderr=None,
                        env=env,
                        start_new_session=True,  # a terminal's Ctrl-C is the kernel's
                    )
                self.starts += 1
                began = anyio.current_time()
                code = await process.wait()
                await process.aclose()
                self.process = None
                if code == EXIT_REFUSED:
                    return  # its secret was refused: starting it again cannot help
                failures = 0 if anyio.current_time() - began > 5 else failures + 1
                await anyio.sleep(_BACKOFF_S[min(failures, len(_BACKOFF_S) - 1)])
        finally:
            with anyio.CancelScope(shield=True):
                await self._stop()

    async def _stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.returncode is None:
            try:
                process.terminate()
            except ProcessLookupError:
                pass
            with anyio.move_on_after(1):
                await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()
        await process.aclose()


def make_launchers(
    hosts: dict[str, Any], *, ray_address: str, strategy: str
) -> dict[str, tuple[str, Launcher, dict[str, Any]]]:
    """Each host's launcher (kind, launcher, resources); the Ray hosts share one
    placement group, so its strategy can spread them over nodes."""
    out: dict[str, tuple[str, Launcher, dict[str, Any]]] = {}
    on_ray = sorted(name for name, host in hosts.items() if host.launcher == "ray")
    if on_ray:
        from .ray_launcher import RayLauncher, RayPlacement

        resources = {name: dict(hosts[name].resources) for name in on_ray}
        placement = RayPlacement(on_ray, resources, address=ray_address, strategy=strategy)
        for name in on_ray:
            out[name] = ("ray", RayLauncher(placement), resources[name])
    for name, host in hosts.items():
        if host.launcher == "local":
            out[name] = ("local", LocalLauncher(), dict(host.resources))
    return out


__all__ = ["Launcher", "LocalLauncher", "host_environment", "make_launchers"]
