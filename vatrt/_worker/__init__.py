"""How a vat runs. The kernel sees only `base`'s protocols; `local` is one kind.

Nothing here imports a worker kind, so importing the protocols does not pull in
liveslots: the controller picks the kind and hands the kernel its factory.
"""

from .base import Worker as Worker
from .base import WorkerFactory as WorkerFactory
from .base import WorkerSpec as WorkerSpec
