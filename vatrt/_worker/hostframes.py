"""The link between a kernel and a vat host: one TCP stream, many vats.

A vat host runs the children of several vats (the same `vatrt._worker.child`
a subprocess worker runs). The link carries, for each child, the bytes its
pipes would carry, tagged by channel; channel 0 is the link's own. A link frame
is a 9-byte header (channel u32, op u8, length u32, big-endian) and `length`
bytes::

    kernel -> host                       host -> kernel
    0  CHALLENGE nonce (32 bytes)         0  HELLO {name, pid, node, mac}
    0  WELCOME / REFUSED why              c  STARTED pid (decimal)
    c  OPEN  (start a child)              c  DATA  bytes of the child's stdout
    c  DATA  bytes for the child's stdin  c  END   its stdout ended
    c  END   close its stdin              c  EXITED how it ended (text)
    c  KILL  SIGKILL it

The host proves it holds the secret the kernel made for it without sending the
secret: its HELLO carries an HMAC-SHA256 of the kernel's fresh nonce and its
name. A wrong one is refused (and the host then exits: retrying cannot help).
Without TLS the link is plain TCP: anyone on the path reads the frames, but
no one without the secret can open a child or see one.

Stdlib only: the host imports this, not anyio.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from typing import Final

LINK_HEADER: Final = struct.Struct("!IBI")
MAX_LINK_FRAME: Final = 64 * 1024 * 1024

CHALLENGE: Final = 1
HELLO: Final = 2
WELCOME: Final = 3
REFUSED: Final = 4
OPEN: Final = 5
STARTED: Final = 6
DATA: Final = 7
END: Final = 8
KILL: Final = 9
EXITED: Final = 10

#: Exit status of a host whose secret was refused: its launcher gives up on it.
EXIT_REFUSED: Final = 3

NONCE_BYTES: Final = 32


def link_frame(channel: int, op: int, payload: bytes = b"") -> bytes:
    return LINK_HEADER.pack(channel, op, len(payload)) + payload


def proof(secret: str, nonce: bytes, name: str) -> str:
    """What a host sends to show it holds `secret` (never the secret itself)."""
    return hmac.new(secret.encode(), nonce + name.encode(), hashlib.sha256).hexdigest()


def proof_holds(secret: str, nonce: bytes, name: str, mac: object) -> bool:
    return isinstance(mac, str) and hmac.compare_digest(proof(secret, nonce, name), mac)
