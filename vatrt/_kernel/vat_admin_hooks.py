"""The privileged hooks vat-admin calls (``callKernelHook``), and the kernel's
callbacks to it.

vat-admin is a vat like any other except for this door: a synchronous call into
the kernel during its delivery. Every hook checks its input completely before it
writes anything, so a bad request is a clear error in vat-admin (which rejects
the caller's promise) and changes nothing in the kernel.

Requests that finish later (a vat's creation, an upgrade, a vat's end) answer
through promises the kernel itself decides (`Promises.kernel_promise`): vat-admin
returns them to its callers, who then wait on the kernel, not on vat-admin, so a
pending request survives vat-admin's own upgrade. The kernel also tells
vat-admin's registered callbacks object (``kernel.vatAdminCallbacks``, one count
held) ``vat_terminated(admin_node, failure, reason)``, so that the vat's admin
node keeps the outcome durably for whoever asks ``done()`` later.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._bundle_format import encode_package
from .._marshal import DECODE_MAX_DEPTH, RETAIN, CapData, decode, encode
from .._worker.options import check_worker_options
from ..config import RESERVED_VAT_NAMES, VAT_NAME
from ..errors import BundleError, ConfigError
from .lifecycle import add_vat
from .promises import Promises
from .state.bundles import BundleStore, is_bundle_id
from .state.keeper import KernelKeeper
from .state.refcounts import event_krefs

#: `Upgrades.queue`: (vat, bundle, parameters, upgrade message, origin=) -> request id.
QueueUpgrade = Callable[..., str]


class _UpgradeFailed(Exception):
    """Marshals as an error named UpgradeFailed."""


_UpgradeFailed.__name__ = "UpgradeFailed"


class _CreateFailed(Exception):
    """Marshals as an error named VatCreationFailed."""


_CreateFailed.__name__ = "VatCreationFailed"


def _describe(reason: Any) -> str:
    return str(reason) if isinstance(reason, BaseException) else repr(reason)


CREATE_OPTIONS = frozenset({"critical", "reap_interval", "worker", "limits", "restart", "host"})


class HookError(Exception):
    """A refused vat-admin request: vat-admin sees it as an exception, nothing changed."""

    def __init__(self, message: str, name: str = "Error") -> None:
        super().__init__(message)
        self.name = name


class _Slot:
    """A kref inside hook arguments or results (unmarshalled without a vat)."""

    __slots__ = ("iface", "kref")

    def __init__(self, kref: str, iface: str = "") -> None:
        self.kref = kref
        self.iface = iface


def _unmarshal(capdata: CapData) -> Any:
    return decode(capdata, _Slot)


def _marshal(value: Any) -> CapData:
    """Marshal hook results and notices. The kernel re-wraps data a vat sent (an exit
    reason inside a notice), so it is held to the receiver's depth limit, not the
    sender's: whatever a vat could send, the kernel can pass on."""
    to_slot = lambda x: (x.kref, x.iface) if type(x) is _Slot else None  # noqa: E731
    return encode(value, to_slot, max_depth=DECODE_MAX_DEPTH)


def check_no_promises(vrefs: list[str]) -> None:
    if any(vref[0] == "p" for vref in vrefs):
        raise HookError("vatParameters cannot include promises", "TypeError")


class VatAdminHooks:
    """vat-admin's door into the kernel, over the keeper and a few operations."""

    def __init__(
        self,
        keeper: KernelKeeper,
        promises: Promises,
        bundles: BundleStore,
        queue_upgrade: QueueUpgrade,
        *,
        default_reap_interval: int,
        default_worker: str = "local",
        hosts: frozenset[str] = frozenset(),
    ) -> None:
        self.keeper = keeper
        self.refcounts = keeper.refcounts
        self.promises = promises
        self.bundles = bundles
        self._queue_upgrade = queue_upgrade
        self._default_reap_interval = default_reap_interval
        self._default_worker = default_worker
        self._hosts = hosts

    def call(self, vat_id: str, name: str, args_capdata: CapData) -> list[Any]:
        """Run hook `name` for vat-admin; ``["ok", capdata]`` or ``["error", why, name]``.

        Arguments arrive in vat-admin's vrefs; promise slots are refused before any
        translation, so a refused request allocates nothing.
        """
        hook = getattr(self, f"hook_{name}", None)
        if hook is None:
            return ["error", f"unknown kernel hook {name!r}", "TypeError"]
        clist = self.keeper.vat(vat_id).clist
        try:
            if name in ("create_vat", "upgrade_vat"):
                check_no_promises(args_capdata["slots"])
            args = _unmarshal(clist.capdata_to_kernel(args_capdata))
            result = hook(*args)
        except HookError as e:
            return ["error", str(e), e.name]
        except BundleError as e:
            return ["error", str(e), "BundleError"]
        except TypeError as e:
            return ["error", f"{name}: {e}", "TypeError"]
        return ["ok", clist.capdata_to_vat(_marshal(result))]

    # -- hooks ---------------------------------------------------------------------

    def hook_set_callbacks(self, callbacks: _Slot) -> None:
        self.keeper.set_vat_admin_callbacks(callbacks.kref)

    def hook_install_bundle(self, source: Any, filename: Any = "<installed bundle>") -> str:
        """`source` is a module's text, or a package: {relative path: text}."""
        if isinstance(source, dict):
            try:
                source = encode_package(source)
            except (TypeError, ValueError) as e:
                raise HookError(f"install_bundle: {e}", "TypeError") from None
        if not isinstance(source, str):
            raise HookError(
                "install_bundle needs Python source text or a package "
                f"({{path: text}}), not {type(source).__name__}",
                "TypeError",
            )
        return self.bundles.install(source, str(filename))

    def hook_get_bundle(self, name: Any) -> str:
        bundle_id = self.bundles.by_name(str(name))
        if bundle_id is None:
            raise HookError(f"no config bundle named {name!r}", "KeyError")
        return bundle_id

    def _check_bundle(self, bundle_id: Any) -> str:
        if not is_bundle_id(bundle_id) or not self.bundles.has(bundle_id):
            raise HookError(f"{bundle_id!r} is not an installed bundle", "TypeError")
        return str(bundle_id)

    def hook_create_vat(
        self, bundle_id: Any, name: Any, parameters: Any, options: dict[str, Any]
    ) -> list[Any]:
        keeper = self.keeper
        bundle_id = self._check_bundle(bundle_id)
        unknown = sorted(set(options) - CREATE_OPTIONS)
        if unknown:
            raise HookError(f"create_vat: unknown option(s) {', '.join(unknown)}", "TypeError")
        if name is None:
            name = f"vat-{keeper.peek_vat_id()[1:]}"
        if not isinstance(name, str) or not VAT_NAME.fullmatch(name):
            raise HookError(
                f"create_vat: vat name {name!r} must match [A-Za-z0-9._-]{{1,199}}", "ValueError"
            )
        if name in RESERVED_VAT_NAMES or keeper.vat_id_of(name) is not None:
            raise HookError(f"create_vat: vat name {name!r} is taken", "ValueError")
        critical = options.get("critical", False)
        reap_interval = options.get("reap_interval")
        if reap_interval is None:
            reap_interval = self._default_reap_interval
        if not isinstance(critical, bool):
            raise HookError("create_vat: critical must be True or False", "TypeError")
        if type(reap_interval) is not int or reap_interval < 1:  # True is not an interval
            raise HookError("create_vat: reap_interval must be an int >= 1", "TypeError")
        worker, limits, restart = (
            options.get("worker"),
            options.get("limits"),
            options.get("restart"),
        )
        try:
            check_worker_options(worker, limits, "create_vat", restart)
        except ConfigError as e:
            raise HookError(str(e), "TypeError") from None
        host = options.get("host")
        if host is not None and host not in self._hosts:
            known = ", ".join(sorted(self._hosts)) or "none"
            raise HookError(
                f"create_vat: host {host!r} is not among the kernel's hosts (known: {known})",
                "ValueError",
            )
        if host is not None and worker == "local":
            raise HookError(
                f"create_vat: a vat on host {host!r} runs in a subprocess worker there, "
                "not worker='local'",
                "TypeError",
            )
        kind = worker or ("subprocess" if host is not None else self._default_worker)
        if limits and kind != "subprocess":
            raise HookError(
                "create_vat: limits need worker='subprocess' "
                "(a vat in the kernel's own process cannot be stopped)",
                "TypeError",
            )
        vat_options = {
            "name": name,
            "critical": critical,
            "reapInterval": reap_interval,
            "dynamic": True,
        }
        # Stored only when chosen here: otherwise the kernel's default applies.
        if worker is not None:
            vat_options["worker"] = worker
        if limits:
            vat_options["limits"] = dict(limits)
        if restart:
            vat_options["restart"] = dict(restart)
        if host is not None:
            vat_options["host"] = host
        vat_id = add_vat(keeper, name, bundle_id, vat_options, _marshal(parameters))
        created = self.promises.kernel_promise(keeper.vat(vat_id).holder("createResult"))
        return [vat_id, _Slot(created)]

    def hook_set_admin_node(self, vat_id: Any, admin_node: _Slot) -> None:
        """The admin node vat-admin made for a new vat: held by the vat's record."""
        vat = self.keeper.vat(vat_id) if isinstance(vat_id, str) else None
        if vat is None or vat.holder("createResult").get() is None:
            raise HookError(f"set_admin_node: {vat_id!r} is not a vat being created", "ValueError")
        self.refcounts.incref(admin_node.kref)
        vat.holder("adminNode").set(admin_node.kref)

    def hook_done_promise(self, vat_id: Any) -> _Slot:
        if not isinstance(vat_id, str) or not self.keeper.is_live_vat(vat_id):
            raise HookError(f"done: vat {vat_id!r} is gone", "VatTerminated")
        return _Slot(self.promises.kernel_promise(self.keeper.vat(vat_id).holder("done")))

    def hook_upgrade_vat(
        self, vat_id: Any, bundle_id: Any, parameters: Any, upgrade_message: Any
    ) -> _Slot:
        keeper = self.keeper
        if not isinstance(vat_id, str) or not keeper.is_live_vat(vat_id):
            raise HookError(f"upgrade: vat {vat_id!r} is gone", "VatTerminated")
        bundle_id = self._check_bundle(bundle_id)
        if parameters is RETAIN:
            capdata = keeper.vat(vat_id).vat_parameters()
            if capdata is None:
                raise HookError(
                    f"vat {vat_id} has no retained vatParameters (created before schema 2)",
                    "ValueError",
                )
        else:
            capdata = _marshal(parameters)
        request_id = self._queue_upgrade(
            vat_id, bundle_id, capdata, upgrade_message, origin="admin"
        )
        return _Slot(self.promises.kernel_promise(keeper.upgrade_result(request_id)))

    def hook_terminate_vat(self, vat_id: Any, reason: Any) -> None:
        keeper = self.keeper
        if not isinstance(vat_id, str) or not keeper.is_live_vat(vat_id):
            raise HookError(f"terminate: vat {vat_id!r} is already gone", "VatTerminated")
        event = {"type": "terminateVat", "vatID": vat_id, "reason": _marshal(reason)}
        self.refcounts.incref_all(event_krefs(event))
        keeper.push_event(event)

    # -- answers ---------------------------------------------------------------------

    def vat_started(self, vat_id: str) -> None:
        vat = self.keeper.vat(vat_id)
        node = vat.holder("adminNode").get()
        result = {"root": _Slot(vat.root(), "Root"), "admin_node": _Slot(node or "", "AdminNode")}
        self.promises.settle_kernel_promise(vat.holder("createResult"), False, _marshal(result))

    def vat_ended(self, vat_id: str, failure: bool, reason: CapData) -> None:
        """Settle what waits on the vat, release its admin node, tell vat-admin."""
        vat, promises = self.keeper.vat(vat_id), self.promises
        why = _unmarshal(reason)
        failed = _marshal(_CreateFailed(f"create_vat failed: {_describe(why)}"))
        promises.settle_kernel_promise(vat.holder("createResult"), True, failed)
        promises.settle_kernel_promise(vat.holder("done"), failure, reason)
        node = vat.holder("adminNode").take()
        if node is not None:
            # The notice holds the node until vat-admin has written the outcome on it.
            self.notify("vat_terminated", [_Slot(node, "AdminNode"), failure, why])
            self.refcounts.decref(node)

    def upgrade_finished(self, request_id: str, ok: bool, detail: Any) -> None:
        if ok:
            data = _marshal({"incarnation_number": detail})
        else:
            data = _marshal(_UpgradeFailed(f"vat-upgrade failure: {detail}"))
        holder = self.keeper.upgrade_result(request_id)
        self.promises.settle_kernel_promise(holder, not ok, data)

    # -- callbacks -------------------------------------------------------------------

    def notify(self, method: str, args: list[Any]) -> None:
        """Queue ``callbacks.method(*args)`` to vat-admin (krefs as `_Slot`)."""
        target = self.keeper.vat_admin_callbacks()
        if target is None:
            return
        body = _marshal([method, args])
        event = {"type": "send", "target": target, "msg": {"methargs": body, "result": None}}
        self.refcounts.incref_all(event_krefs(event))
        self.keeper.push_event(event)


__all__ = ["HookError", "VatAdminHooks"]
