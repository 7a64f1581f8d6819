"""How a vat runs. The kernel sees only the `Worker` protocol."""

from .base import Worker as Worker
from .local import LocalWorker as LocalWorker
