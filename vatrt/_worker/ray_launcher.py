"""The ``ray`` launcher: vat hosts as Ray actors, placed and restarted by Ray.

Ray does what it is good at: placing processes on a cluster's nodes (one
placement group for all of a kernel's Ray hosts, its strategy from the config)
and restarting an actor whose process or node died (``max_restarts=-1``).
It does not carry vat traffic: a Ray actor call costs ~1 ms, several times a
frame over the host's own TCP link, and Ray's API is asyncio-only. So an
actor does one thing: in its constructor (which Ray runs again on every
restart) it starts the vat host loop (`vatrt._worker.host.serve_host`) in a
thread, which dials the kernel back. ``max_task_retries=0``: no actor method is
ever retried behind the kernel's back (there are none that matter).

Every Ray call blocks, so each runs in a worker thread (`anyio.to_thread`):
this works under asyncio and trio alike. Needs the ``vatrt[ray]`` extra.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import anyio

_PLACEMENT_TIMEOUT_S = 300.0
_GIVE_UP_S = 60.0  # an actor whose kernel is gone this long stops dialling


def _host_actor_class() -> Any:
    import ray

    @ray.remote
    class VatHostActor:
        """A vat host in a Ray actor; restarted by Ray, it dials the kernel again."""

        def __init__(self, address: tuple[str, int], name: str, secret: str, tls_ca: Any) -> None:
            from vatrt._worker.host import serve_host, tls_client_context

            node = ray.get_runtime_context().get_node_id()
            tls = tls_client_context(tls_ca) if tls_ca else None
            self._stop = threading.Event()
            self._thread = threading.Thread(
                target=serve_host,
                args=(tuple(address), name, secret),
                kwargs={"node": node, "give_up_s": _GIVE_UP_S, "tls": tls, "stop": self._stop},
                name=f"vat host {name}",
                daemon=True,
            )
            self._thread.start()

        def where(self) -> dict[str, Any]:
            return {"pid": os.getpid(), "node": ray.get_runtime_context().get_node_id()}

        def stop(self) -> None:
            self._stop.set()

    return VatHostActor


class RayPlacement:
    """One placement group for a kernel's Ray hosts, made when the first of them
    starts and removed when the last stops. Bundle i is host i's resources."""

    def __init__(self, names: list[str], resources: dict[str, dict[str, float]], *,
                 address: str, strategy: str) -> None:  # fmt: skip
        self.names = names
        self.bundles = [dict(resources.get(n) or {"CPU": 1.0}) for n in names]
        self.address = address
        self.strategy = strategy
        self._group: Any = None
        self._lock = anyio.Lock()
        self._users = 0
        self._we_started_ray = False

    async def acquire(self) -> Any:
        async with self._lock:
            if self._group is None:
                # abandoned on cancel: ray.init may retry an unreachable address
                # for minutes, and a kernel closing must not wait for it
                self._group = await anyio.to_thread.run_sync(self._make, abandon_on_cancel=True)
            self._users += 1
            return self._group

    def _make(self) -> Any:
        import ray
        from ray.util.placement_group import placement_group

        if not ray.is_initialized():
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False)
            self._we_started_ray = True
        group = placement_group(self.bundles, strategy=self.strategy)
        ray.get(group.ready(), timeout=_PLACEMENT_TIMEOUT_S)
        return group

    async def release(self) -> None:
        async with self._lock:
            self._users -= 1
            if self._users or self._group is None:
                return
            group, self._group = self._group, None
            await anyio.to_thread.run_sync(self._remove, group)

    def _remove(self, group: Any) -> None:
        import ray
        from ray.util.placement_group import remove_placement_group

        remove_placement_group(group)
        if self._we_started_ray:
            ray.shutdown()


class RayLauncher:
    """Starts one host as a Ray actor in its bundle of the kernel's placement group."""

    def __init__(self, placement: RayPlacement) -> None:
        self._placement = placement
        self.actor: Any = None

    async def keep_running(self, plan: Any) -> None:
        group = await self._placement.acquire()
        try:
            self.actor = await anyio.to_thread.run_sync(
                self._start, plan, group, abandon_on_cancel=True
            )
            await anyio.sleep_forever()  # Ray restarts it; the kernel waits for it to dial
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(30):
                actor, self.actor = self.actor, None
                if actor is not None:
                    await anyio.to_thread.run_sync(_kill, actor)
                await self._placement.release()

    def _start(self, plan: Any, group: Any) -> Any:
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        index = self._placement.names.index(plan.name)
        bundle = self._placement.bundles[index]
        other = {k: v for k, v in bundle.items() if k not in ("CPU", "GPU", "memory")}
        return (
            _host_actor_class()
            .options(
                name=None,
                max_restarts=-1,
                max_task_retries=0,
                num_cpus=bundle.get("CPU", 0),
                num_gpus=bundle.get("GPU", 0),
                resources=other or None,
                scheduling_strategy=PlacementGroupSchedulingStrategy(
                    placement_group=group, placement_group_bundle_index=index
                ),
            )
            .remote(list(plan.address), plan.name, plan.secret, plan.tls_ca)
        )


def _kill(actor: Any) -> None:
    import ray

    try:
        ray.kill(actor, no_restart=True)
    except Exception:
        pass
