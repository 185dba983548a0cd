"""Encryption of every payload Temporal stores (workflow inputs, step outputs, results).

Off by default. With ``INTERCOM_TEMPORAL_KEY`` set (32 random bytes, base64: ``python -c
"import os, base64; print(base64.b64encode(os.urandom(32)).decode())"``) every payload is
sealed with AES-256-GCM before it leaves the process; the server, its database and anyone who
reads its histories (the web UI too) see only ciphertext. Workers and the CLI, which hold the
key, read them. Each payload names the key that sealed it (a short fingerprint, not the key),
so keys rotate: put the new key in ``INTERCOM_TEMPORAL_KEY`` and the old ones, comma-separated,
in ``INTERCOM_TEMPORAL_OLD_KEYS`` (read only); once no running or retained history uses an old
key, drop it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
    PayloadCodec,
)

from intercom_connector.runtime.errors import ConnectionConfigError

ENV_KEY = "INTERCOM_TEMPORAL_KEY"
ENV_OLD_KEYS = "INTERCOM_TEMPORAL_OLD_KEYS"
ENCODING = b"binary/intercom-aes256gcm"
_NONCE = 12


def _key(text: str, variable: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise ConnectionConfigError(
            f"{variable} must be 32 random bytes in base64 (44 characters), e.g. the output of "
            'python -c "import os, base64; print(base64.b64encode(os.urandom(32)).decode())"'
        )
    return key


def key_id(key: bytes) -> bytes:
    """A key's name in each payload: a fingerprint that does not reveal the key."""
    return hashlib.sha256(b"intercom-connector payload key\0" + key).hexdigest()[:16].encode()


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over each whole payload (its metadata too); decodes with any key given."""

    def __init__(self, key: bytes, old_keys: Sequence[bytes] = ()) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._id = key_id(key)
        self._seal = AESGCM(key)
        self._open = {key_id(k): AESGCM(k) for k in (key, *old_keys)}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        sealed = []
        for payload in payloads:
            nonce = os.urandom(_NONCE)
            data = nonce + self._seal.encrypt(nonce, payload.SerializeToString(), self._id)
            sealed.append(
                Payload(metadata={"encoding": ENCODING, "encryption-key-id": self._id}, data=data)
            )
        return sealed

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        opened = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                opened.append(payload)  # written before encryption was turned on
                continue
            name = payload.metadata.get("encryption-key-id", b"")
            aead = self._open.get(name)
            if aead is None:
                raise ConnectionConfigError(
                    f"a payload was sealed with key {name.decode(errors='replace')}, which is "
                    f"neither {ENV_KEY} nor one of {ENV_OLD_KEYS}"
                )
            data = payload.data
            plain = aead.decrypt(data[:_NONCE], data[_NONCE:], name)
            opened.append(Payload.FromString(plain))
        return opened


class _OrderedJSON(JSONPlainPayloadConverter):
    """JSON in the order Intercom gave it (the SDK's own sorts every object's keys): a run
    on Temporal prints what the same run in-process prints."""

    def to_payload(self, value: Any) -> Payload | None:
        try:
            data = orjson.dumps(value)
        except TypeError:  # not plain JSON data: the SDK's converter knows more types
            return super().to_payload(value)
        return Payload(metadata={"encoding": self.encoding.encode()}, data=data)


class PayloadConverter(CompositePayloadConverter):
    """The SDK's default converters, JSON keeping its order."""

    def __init__(self) -> None:
        super().__init__(
            *(
                _OrderedJSON() if isinstance(each, JSONPlainPayloadConverter) else each
                for each in DefaultPayloadConverter.default_encoding_payload_converters
            )
        )


def data_converter(env: Mapping[str, str]) -> DataConverter:
    """How payloads are written: JSON in order, sealed when ``INTERCOM_TEMPORAL_KEY`` is set
    (failure messages too, as they may quote a customer's values)."""
    codec = codec_from_env(env)
    if codec is None:
        return DataConverter(payload_converter_class=PayloadConverter)
    return DataConverter(
        payload_converter_class=PayloadConverter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def codec_from_env(env: Mapping[str, str]) -> EncryptionCodec | None:
    """The codec ``INTERCOM_TEMPORAL_KEY`` (and ``..._OLD_KEYS``) describe; None when unset."""
    text = env.get(ENV_KEY, "").strip()
    if not text:
        return None
    old = [_key(part, ENV_OLD_KEYS) for part in env.get(ENV_OLD_KEYS, "").split(",") if part]
    return EncryptionCodec(_key(text, ENV_KEY), old)
