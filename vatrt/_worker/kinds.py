"""The worker kinds a kernel can run vats in, and how a vat's kind is chosen.

The kernel gets one `WorkerKinds` as its factory: it makes each vat's worker
with the kind the vat's `WorkerSpec` names. A vat's kind and limits come from,
first to last: the options it was created with (``create_vat(worker=...,
limits=...)``, kept in its record), its entry in the config, the config's
``default_worker``. Only an explicit choice at ``create_vat`` is stored, so the
same config run with another default kind gives the same kernel state.
"""

from __future__ import annotations

from ..errors import ConfigError
from .base import HostStatus, NoteFn, SyscallFn, Worker, WorkerSpec
from .local import LocalWorkerFactory
from .options import check_worker_options
from .remote import HostHub, HostSource
from .subprocess import SubprocessWorkerFactory


class WorkerKinds:
    """The kernel's worker factory: each kind's own, chosen per vat. A vat
    on a host (`WorkerSpec.host`) is a subprocess worker whose child runs
    there (`vatrt._worker.remote`)."""

    def __init__(self, default: str = "local", hub: HostHub | None = None) -> None:
        check_worker_options(default, None, "default_worker")
        self.default = default
        self.hub = hub
        self._local = LocalWorkerFactory()
        self._subprocess = SubprocessWorkerFactory()
        for name in hub.names if hub else ():
            self._subprocess.on_host(name, HostSource(hub, name))  # type: ignore[arg-type]

    def host_status(self) -> list[HostStatus]:
        return self.hub.status() if self.hub else []

    def validate_bundle(self, source: str, filename: str) -> None:
        """Checked as the default kind would: a kernel whose vats run in
        subprocesses never runs bundle code in its own process."""
        factory = self._subprocess if self.default == "subprocess" else self._local
        factory.validate_bundle(source, filename)

    def make(self, spec: WorkerSpec, syscall: SyscallFn, note: NoteFn) -> Worker:
        kind = spec.worker or ("subprocess" if spec.host else self.default)
        if kind == "subprocess":
            return self._subprocess.make(spec, syscall, note)
        if spec.limits:
            raise ConfigError(
                f"vat {spec.name!r}: limits need worker = 'subprocess' "
                "(a vat in the kernel's own process cannot be stopped)"
            )
        return self._local.make(spec, syscall, note)
