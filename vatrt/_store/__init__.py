"""Kernel storage: a key-value store with crank savepoints (see `kvstore`)."""

from .kvstore import KVStore as KVStore
from .memory import MemoryKVStore as MemoryKVStore
