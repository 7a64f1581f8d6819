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
from .base import NoteFn, SyscallFn, Worker, WorkerSpec
from .local import LocalWorkerFactory
from .options import check_worker_options
from .subprocess import SubprocessWorkerFactory


class WorkerKinds:
    """The kernel's worker factory: each kind's own, chosen per vat."""

    def __init__(self, default: str = "local") -> None:
        check_worker_options(default, None, "default_worker")
        self.default = default
        self._local = LocalWorkerFactory()
        self._subprocess = SubprocessWorkerFactory()

    def validate_bundle(self, source: str, filename: str) -> None:
        """Checked as the default kind would: a kernel whose vats run in
        subprocesses never runs bundle code in its own process."""
        factory = self._subprocess if self.default == "subprocess" else self._local
        factory.validate_bundle(source, filename)

    def make(self, spec: WorkerSpec, syscall: SyscallFn, note: NoteFn) -> Worker:
        kind = spec.worker or self.default
        if kind == "subprocess":
            return self._subprocess.make(spec, syscall, note)
        if spec.limits:
            raise ConfigError(
                f"vat {spec.name!r}: limits need worker = 'subprocess' "
                "(a vat in the kernel's own process cannot be stopped)"
            )
        return self._local.make(spec, syscall, note)
