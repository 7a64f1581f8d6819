"""What vat code imports: ``from vatrt.vat import E, Far, make_promise_kit``.

This is the only vatrt module a bundle may import.
"""

from ._liveslots.devices import D as D
from ._liveslots.devices import DeviceNode as DeviceNode
from ._liveslots.durable import durable_kind as durable_kind
from ._liveslots.far import E as E
from ._liveslots.far import Far as Far
from ._liveslots.far import Presence as Presence
from ._liveslots.far import make_promise_kit as make_promise_kit
from ._liveslots.promises import VatPromise as VatPromise
from ._marshal import RETAIN as RETAIN
from ._marshal import RemoteError as RemoteError

__all__ = [
    "RETAIN",
    "D",
    "DeviceNode",
    "E",
    "Far",
    "Presence",
    "RemoteError",
    "VatPromise",
    "durable_kind",
    "make_promise_kit",
]
