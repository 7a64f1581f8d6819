"""vat-admin: the service vat that creates, upgrades and terminates dynamic vats.

It is shipped with the kernel and given to the bootstrap as ``vats["vat_admin"]``.
It reaches the kernel through `vat_powers.call_kernel_hook`, a door no other vat
has; the kernel answers later by calling the callbacks object registered at each
start. Its records (admin nodes, bundle caps, terminations) are durable, so they
survive vat-admin's own upgrade; promises a caller is still waiting on belong to
the incarnation that made them.
"""

from vatrt.vat import Far, durable_kind, make_promise_kit


class UpgradeFailed(Exception):
    """A vat upgrade failed and was rolled back."""


class VatCreationFailed(Exception):
    """A dynamic vat could not start; nothing of it remains."""


class VatTerminated(Exception):
    """The vat was terminated."""


def build_root_object(vat_powers, vat_parameters, baggage):
    hook = vat_powers.call_kernel_hook
    pending_creates = {}  # vat_id -> (resolve, reject)
    pending_upgrades = {}  # request id -> (resolve, reject)
    done_waiters = {}  # vat_id -> [(resolve, reject)]

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

    def outcome_of(vat_id):
        key = f"terminated.{vat_id}"
        return baggage.get(key) if baggage.has(key) else None

    @durable_kind(baggage, "AdminNode")
    class AdminNode:
        """Control of one dynamic vat: upgrade it, terminate it, learn when it is done."""

        @staticmethod
        def init(vat_id):
            return {"vat_id": vat_id}

        def upgrade(self, bundle, vat_parameters=None, upgrade_message=None, **options):
            if options:
                raise TypeError(f"upgrade: unknown option(s) {', '.join(sorted(options))}")
            vat_id = self.state["vat_id"]
            if outcome_of(vat_id) is not None:
                raise VatTerminated(f"upgrade: vat {vat_id} is already gone")
            request_id = hook(
                "upgrade_vat", vat_id, bundle_id_of(bundle), vat_parameters, upgrade_message
            )
            promise, resolve, reject = make_promise_kit()
            pending_upgrades[request_id] = (resolve, reject)
            return promise

        def terminate_with_failure(self, reason=None):
            vat_id = self.state["vat_id"]
            if outcome_of(vat_id) is not None:
                raise VatTerminated(f"terminate: vat {vat_id} is already gone")
            hook("terminate_vat", vat_id, reason)

        def done(self):
            """Resolves with the completion of exit_vat; rejects on failure or termination."""
            promise, resolve, reject = make_promise_kit()
            vat_id = self.state["vat_id"]
            outcome = outcome_of(vat_id)
            if outcome is None:
                done_waiters.setdefault(vat_id, []).append((resolve, reject))
            elif outcome["failure"]:
                reject(outcome["reason"])
            else:
                resolve(outcome["reason"])
            return promise

    class VatAdmin:
        def install_bundle(self, source, filename="<installed bundle>"):
            return BundleCap(hook("install_bundle", source, filename))

        def get_bundle(self, name):
            return BundleCap(hook("get_bundle", name))

        def create_vat(self, bundle, name=None, vat_parameters=None, **options):
            vat_id = hook("create_vat", bundle_id_of(bundle), name, vat_parameters, options)
            promise, resolve, reject = make_promise_kit()
            pending_creates[vat_id] = (resolve, reject)
            return promise

    class KernelCallbacks:
        """What the kernel calls; no other vat ever sees this object."""

        def vat_created(self, vat_id, root):
            resolve, _ = pending_creates.pop(vat_id)
            resolve({"root": root, "admin_node": AdminNode(vat_id)})

        def vat_upgraded(self, request_id, outcome):
            settlers = pending_upgrades.pop(request_id, None)
            if settlers is None:
                return  # asked of an earlier incarnation of vat-admin
            resolve, reject = settlers
            if outcome["ok"]:
                resolve({"incarnation_number": outcome["incarnation_number"]})
            else:
                reject(UpgradeFailed(outcome["error"]))

        def vat_terminated(self, vat_id, failure, reason):
            baggage.init(f"terminated.{vat_id}", {"failure": failure, "reason": reason})
            creating = pending_creates.pop(vat_id, None)
            if creating is not None:
                creating[1](VatCreationFailed(f"create_vat failed: {reason}"))
            for resolve, reject in done_waiters.pop(vat_id, []):
                if failure:
                    reject(reason)
                else:
                    resolve(reason)

    hook("set_callbacks", Far("VatAdminCallbacks", KernelCallbacks()))
    return Far("VatAdmin", VatAdmin())
