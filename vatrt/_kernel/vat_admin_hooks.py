"""The privileged hooks vat-admin calls (``callKernelHook``), and the kernel's
callbacks to it.

vat-admin is a vat like any other except for this door: a synchronous call into
the kernel during its delivery. Every hook checks its input completely before it
writes anything, so a bad request is a clear error in vat-admin (which rejects
the caller's promise) and changes nothing in the kernel.

Requests that finish later (a vat's creation, an upgrade, a vat's end) answer
through promises the kernel itself decides (`Kernel.kernel_promise`): vat-admin
returns them to its callers, who then wait on the kernel, not on vat-admin, so a
pending request survives vat-admin's own upgrade. The kernel also tells
vat-admin's registered callbacks object (``kernel.vatAdminCallbacks``, one count
held) ``vat_terminated(vat_id, failure, reason)`` so it can keep a durable record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._bundle_format import encode_package
from .._marshal import CapData, data_capdata, decode, encode
from ..config import RESERVED_VAT_NAMES, VAT_NAME
from ..errors import BundleError
from .bundles import is_bundle_id
from .refcounts import event_krefs

if TYPE_CHECKING:
    from .kernel import Kernel

CALLBACKS_KEY = "kernel.vatAdminCallbacks"
UPGRADE_RESULT = "kernel.upgradeResult."


class _UpgradeFailed(Exception):
    """Marshals as an error named UpgradeFailed."""


_UpgradeFailed.__name__ = "UpgradeFailed"


class _CreateFailed(Exception):
    """Marshals as an error named VatCreationFailed."""


_CreateFailed.__name__ = "VatCreationFailed"


def _describe(reason: Any) -> str:
    return str(reason) if isinstance(reason, BaseException) else repr(reason)


CREATE_OPTIONS = frozenset({"critical", "reap_interval"})


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
    return encode(value, lambda x: (x.kref, x.iface) if type(x) is _Slot else None)


def check_no_promises(vrefs: list[str]) -> None:
    if any(vref[0] == "p" for vref in vrefs):
        raise HookError("vatParameters cannot include promises", "TypeError")


class VatAdminHooks:
    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.kv = kernel.kv

    def call(self, vat_id: str, name: str, args_capdata: CapData) -> list[Any]:
        """Run hook `name` for vat-admin; ``["ok", capdata]`` or ``["error", why, name]``.

        Arguments arrive in vat-admin's vrefs; promise slots are refused before any
        translation, so a refused request allocates nothing.
        """
        hook = getattr(self, f"hook_{name}", None)
        if hook is None:
            return ["error", f"unknown kernel hook {name!r}", "TypeError"]
        clist = self.kernel.clist(vat_id)
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
        kernel = self.kernel
        previous = self.kv.get(CALLBACKS_KEY)
        kernel.refcounts.incref(callbacks.kref)  # increment-before-decrement
        self.kv.set(CALLBACKS_KEY, callbacks.kref)
        if previous is not None:
            kernel.refcounts.decref(previous)

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
        return self.kernel.bundles.install(source, str(filename))

    def hook_get_bundle(self, name: Any) -> str:
        bundle_id = self.kernel.bundles.by_name(str(name))
        if bundle_id is None:
            raise HookError(f"no config bundle named {name!r}", "KeyError")
        return bundle_id

    def _check_bundle(self, bundle_id: Any) -> str:
        if not is_bundle_id(bundle_id) or not self.kernel.bundles.has(bundle_id):
            raise HookError(f"{bundle_id!r} is not an installed bundle", "TypeError")
        return str(bundle_id)

    def hook_create_vat(
        self, bundle_id: Any, name: Any, parameters: Any, options: dict[str, Any]
    ) -> list[Any]:
        kernel = self.kernel
        bundle_id = self._check_bundle(bundle_id)
        unknown = sorted(set(options) - CREATE_OPTIONS)
        if unknown:
            raise HookError(f"create_vat: unknown option(s) {', '.join(unknown)}", "TypeError")
        if name is None:
            name = f"vat-{self.kv.get('vat.nextID') or 1}"
        if not isinstance(name, str) or not VAT_NAME.fullmatch(name):
            raise HookError(
                f"create_vat: vat name {name!r} must match [A-Za-z0-9._-]{{1,199}}", "ValueError"
            )
        if name in RESERVED_VAT_NAMES or kernel.keeper.vat_id_of(name) is not None:
            raise HookError(f"create_vat: vat name {name!r} is taken", "ValueError")
        critical = options.get("critical", False)
        reap_interval = options.get("reap_interval") or kernel.config.reap_interval
        if not isinstance(critical, bool):
            raise HookError("create_vat: critical must be True or False", "TypeError")
        if not isinstance(reap_interval, int) or reap_interval < 1:
            raise HookError("create_vat: reap_interval must be an int >= 1", "TypeError")
        vat_options = {
            "name": name,
            "critical": critical,
            "reapInterval": reap_interval,
            "dynamic": True,
        }
        vat_id = kernel.add_vat(name, bundle_id, vat_options, _marshal(parameters))
        created = kernel.kernel_promise(f"{vat_id}.createResult")
        return [vat_id, _Slot(created)]

    def hook_set_admin_node(self, vat_id: Any, admin_node: _Slot) -> None:
        """The admin node vat-admin made for a new vat: held by the vat's record."""
        kernel = self.kernel
        if not isinstance(vat_id, str) or self.kv.get(f"{vat_id}.createResult") is None:
            raise HookError(f"set_admin_node: {vat_id!r} is not a vat being created", "ValueError")
        kernel.refcounts.incref(admin_node.kref)
        self.kv.set(f"{vat_id}.adminNode", admin_node.kref)

    def hook_done_promise(self, vat_id: Any) -> _Slot:
        kernel = self.kernel
        if not isinstance(vat_id, str) or not kernel.keeper.is_live_vat(vat_id):
            raise HookError(f"done: vat {vat_id!r} is gone", "VatTerminated")
        return _Slot(kernel.kernel_promise(f"{vat_id}.done"))

    def hook_upgrade_vat(
        self, vat_id: Any, bundle_id: Any, parameters: Any, upgrade_message: Any
    ) -> _Slot:
        kernel = self.kernel
        if not isinstance(vat_id, str) or not kernel.keeper.is_live_vat(vat_id):
            raise HookError(f"upgrade: vat {vat_id!r} is gone", "VatTerminated")
        bundle_id = self._check_bundle(bundle_id)
        capdata = kernel.retained_parameters_for(vat_id, parameters, _marshal)
        request_id = kernel.queue_upgrade(
            vat_id, bundle_id, capdata, upgrade_message, origin="admin"
        )
        return _Slot(kernel.kernel_promise(f"{UPGRADE_RESULT}{request_id}"))

    def hook_terminate_vat(self, vat_id: Any, reason: Any) -> None:
        kernel = self.kernel
        if not isinstance(vat_id, str) or not kernel.keeper.is_live_vat(vat_id):
            raise HookError(f"terminate: vat {vat_id!r} is already gone", "VatTerminated")
        event = {"type": "terminateVat", "vatID": vat_id, "reason": _marshal(reason)}
        kernel.refcounts.incref_all(event_krefs(event))
        kernel.keeper.push_event(event)

    # -- answers ---------------------------------------------------------------------

    def vat_started(self, vat_id: str) -> None:
        kv = self.kv
        root = kv.get(f"{vat_id}.root") or ""
        node = kv.get(f"{vat_id}.adminNode")
        result = {"root": _Slot(root, "Root"), "admin_node": _Slot(node or "", "AdminNode")}
        self.kernel.settle_kernel_promise(f"{vat_id}.createResult", False, _marshal(result))

    def vat_ended(self, vat_id: str, failure: bool, reason: CapData) -> None:
        """Settle what waits on the vat, release its admin node, tell vat-admin."""
        kernel, kv = self.kernel, self.kv
        why = _unmarshal(reason)
        failed = _marshal(_CreateFailed(f"create_vat failed: {_describe(why)}"))
        kernel.settle_kernel_promise(f"{vat_id}.createResult", True, failed)
        kernel.settle_kernel_promise(f"{vat_id}.done", failure, reason)
        node = kv.get(f"{vat_id}.adminNode")
        if node is not None:
            kv.delete(f"{vat_id}.adminNode")
            kernel.refcounts.decref(node)
        self.notify("vat_terminated", [vat_id, failure, why])

    def upgrade_finished(self, request_id: str, ok: bool, detail: Any) -> None:
        if ok:
            data = _marshal({"incarnation_number": detail})
        else:
            data = _marshal(_UpgradeFailed(f"vat-upgrade failure: {detail}"))
        self.kernel.settle_kernel_promise(f"{UPGRADE_RESULT}{request_id}", not ok, data)

    # -- callbacks -------------------------------------------------------------------

    def notify(self, method: str, args: list[Any]) -> None:
        """Queue ``callbacks.method(*args)`` to vat-admin (krefs as `kref_arg`)."""
        kernel = self.kernel
        target = self.kv.get(CALLBACKS_KEY)
        if target is None:
            return
        body = _marshal([method, args])
        event = {"type": "send", "target": target, "msg": {"methargs": body, "result": None}}
        kernel.refcounts.incref_all(event_krefs(event))
        kernel.keeper.push_event(event)


def vat_upgraded_reason(upgrade_message: Any, incarnation: int) -> CapData:
    return data_capdata(
        {
            "name": "vatUpgraded",
            "upgrade_message": upgrade_message,
            "incarnation_number": incarnation,
        }
    )


__all__ = ["CALLBACKS_KEY", "UPGRADE_RESULT", "HookError", "VatAdminHooks"]
