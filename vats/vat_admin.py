"""vat-admin: the service vat that creates, upgrades and terminates dynamic vats.

It is shipped with the kernel and given to the bootstrap as ``vats["vat_admin"]``.
It reaches the kernel through `vat_powers.call_kernel_hook`, a door no other vat
has. Everything it keeps is durable (bundle caps, admin nodes, records of ended
vats), and every answer that comes later (a created vat, an upgrade's outcome,
``done()``) is a promise the kernel decides: so all of it survives vat-admin's
own upgrade, including requests still pending when it happens.
"""

from vatrt.vat import Far, durable_kind, make_promise_kit


class VatTerminated(Exception):
    """The vat is gone."""


def build_root_object(vat_powers, vat_parameters, baggage):
    hook = vat_powers.call_kernel_hook

    @durable_kind(baggage, "Bundle")
    class BundleCap:
        """A bundle the kernel holds: pass it to create_vat or upgrade."""

        @staticmethod
        def init(bundle_id):
            return {"bundle_id": bundle_id}

        def get_bundle_id(self):
            return self.state["bundle_id"]

    def bundle_id_of(bundle):
        if isinstance(bundle, BundleCap):
            return bundle.state["bundle_id"]
        if isinstance(bundle, str) and bundle.startswith("b1-"):
            return bundle
        raise TypeError(
            f"expected a bundle (from install_bundle or get_bundle), not {type(bundle).__name__}"
        )

    def ended(node):
        """How the node's vat ended, or None while it runs. (Stores from before
        outcomes were kept on the node have them in baggage, as ``ended.vN``.)"""
        outcome = node.state.get("outcome")
        if outcome is None:
            legacy = f"ended.{node.state['vat_id']}"
            outcome = baggage.get(legacy) if baggage.has(legacy) else None
        return outcome

    @durable_kind(baggage, "AdminNode")
    class AdminNode:
        """Control of one dynamic vat: upgrade it, terminate it, learn when it is done.

        Once the vat has ended the node keeps its outcome, so ``done()`` answers
        for as long as anyone holds the node; when no one does, liveslots collects
        the node and the outcome with it."""

        @staticmethod
        def init(vat_id):
            return {"vat_id": vat_id, "outcome": None}

        def upgrade(self, bundle, vat_parameters=None, upgrade_message=None, **options):
            if options:
                raise TypeError(f"upgrade: unknown option(s) {', '.join(sorted(options))}")
            vat_id = self.state["vat_id"]
            if ended(self) is not None:
                raise VatTerminated(f"upgrade: vat {vat_id} is already gone")
            return hook(
                "upgrade_vat", vat_id, bundle_id_of(bundle), vat_parameters, upgrade_message
            )

        def terminate_with_failure(self, reason=None):
            vat_id = self.state["vat_id"]
            if ended(self) is not None:
                raise VatTerminated(f"terminate: vat {vat_id} is already gone")
            hook("terminate_vat", vat_id, reason)

        def done(self):
            """Resolves with the completion of exit_vat; rejects on failure or termination."""
            outcome = ended(self)
            if outcome is None:
                return hook("done_promise", self.state["vat_id"])
            promise, resolve, reject = make_promise_kit()
            (reject if outcome["failure"] else resolve)(outcome["reason"])
            return promise

    class VatAdmin:
        def install_bundle(self, source, filename="<installed bundle>"):
            return BundleCap(hook("install_bundle", source, filename))

        def get_bundle(self, name):
            return BundleCap(hook("get_bundle", name))

        def create_vat(self, bundle, name=None, vat_parameters=None, **options):
            vat_id, created = hook(
                "create_vat", bundle_id_of(bundle), name, vat_parameters, options
            )
            hook("set_admin_node", vat_id, AdminNode(vat_id))
            return created

    @durable_kind(baggage, "KernelCallbacks")
    class KernelCallbacks:
        """What the kernel calls; no other vat ever sees this object. Durable, so a
        notice queued before vat-admin's upgrade is delivered after it."""

        @staticmethod
        def init():
            return {}

        def vat_terminated(self, admin_node, failure, reason):
            if isinstance(admin_node, str):  # a notice queued by an older kernel
                baggage.init(f"ended.{admin_node}", {"failure": failure, "reason": reason})
                return
            admin_node.state["outcome"] = {"failure": failure, "reason": reason}

    hook("set_callbacks", baggage.provide("callbacks", KernelCallbacks))
    return Far("VatAdmin", VatAdmin())
