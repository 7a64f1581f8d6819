"""What vat code imports: ``from vatrt.vat import E, Far, make_promise_kit``.

This is the only vatrt module a bundle may import.
"""

from ._liveslots.far import E as E
from ._liveslots.far import Far as Far
from ._liveslots.far import Presence as Presence
from ._liveslots.far import make_promise_kit as make_promise_kit
from ._liveslots.promises import VatPromise as VatPromise
from ._marshal import RemoteError as RemoteError

__all__ = ["E", "Far", "Presence", "RemoteError", "VatPromise", "make_promise_kit"]
