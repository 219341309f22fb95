"""Sealing a visitor's identity to the city's public key (libsodium sealed boxes, via PyNaCl).

A sealed box is encrypted to a Curve25519 public key with a fresh ephemeral key pair, so the
kiosk, which holds only the city's *public* key, can seal but never open what it wrote: a stolen
SD card reveals nothing, and the kiosk cannot read back who came in. Only the city server, which
holds the private key, unseals (:func:`unseal`).

Keys travel as standard base64 of their 32 raw bytes (what ``kiosk-city enroll`` prints into the
kiosk config as ``sync.seal_public_key``).

The journal takes a sealer function: ``Journal(path, sealer=sealer(config.sync.seal_public_key))``;
:func:`seal` is the same thing in one call.
"""

from __future__ import annotations

import base64
import binascii
import functools
from typing import Callable

from sync.errors import ConfigError

__all__ = ["seal", "sealer", "unseal", "generate_keypair", "public_key_of", "SEAL_OVERHEAD"]

# a sealed box adds an ephemeral public key (32 bytes) and a MAC (16 bytes)
SEAL_OVERHEAD = 48


def _decode_key(key_b64: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(key_b64.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{what}: not valid base64") from None
    if len(raw) != 32:
        raise ConfigError(f"{what}: expected a 32-byte key, got {len(raw)} bytes")
    return raw


@functools.lru_cache(maxsize=8)
def _sealed_box(public_key_b64: str):
    from nacl.public import PublicKey, SealedBox

    return SealedBox(PublicKey(_decode_key(public_key_b64, "sync.seal_public_key")))


def seal(data: bytes, public_key_b64: str) -> bytes:
    """Encrypt ``data`` so that only the holder of the matching private key can read it.

    Raises :class:`ConfigError` when the key is not a base64 32-byte key.
    """
    return bytes(_sealed_box(public_key_b64).encrypt(data))


def sealer(public_key_b64: str) -> Callable[[bytes], bytes]:
    """A one-argument sealing function bound to a key (what ``Journal(sealer=...)`` takes).

    The key is checked now, so a bad key fails at start-up, not at the first visitor.
    """
    box = _sealed_box(public_key_b64)

    def _seal(data: bytes) -> bytes:
        return bytes(box.encrypt(data))

    return _seal


@functools.lru_cache(maxsize=8)
def _unseal_box(private_key_b64: str):
    from nacl.public import PrivateKey, SealedBox

    return SealedBox(PrivateKey(_decode_key(private_key_b64, "seal private key")))


def unseal(blob: bytes, private_key_b64: str) -> bytes:
    """Open a sealed box; raises ``nacl.exceptions.CryptoError`` if it was not sealed to this key
    or was altered."""
    return bytes(_unseal_box(private_key_b64).decrypt(blob))


def generate_keypair() -> tuple[str, str]:
    """A new sealing key pair as (private_b64, public_b64)."""
    from nacl.public import PrivateKey

    private = PrivateKey.generate()
    return (
        base64.b64encode(bytes(private)).decode("ascii"),
        base64.b64encode(bytes(private.public_key)).decode("ascii"),
    )


def public_key_of(private_key_b64: str) -> str:
    """The public half of a sealing private key, base64."""
    from nacl.public import PrivateKey

    private = PrivateKey(_decode_key(private_key_b64, "seal private key"))
    return base64.b64encode(bytes(private.public_key)).decode("ascii")
