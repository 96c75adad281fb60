"""The Official Account's message protocol: how WeChat pushes to our callback. Nothing of HTTP here.

    WeChat --GET  ?signature&timestamp&nonce&echostr-------------------------> answer echostr (console check)
    WeChat --POST ?signature&timestamp&nonce&openid[&encrypt_type=aes&msg_signature], XML body-->
      1. signature = sha1(sorted(token, timestamp, nonce)), compared in constant time, and the
         timestamp within 5 minutes of our clock, before a byte of the body is parsed
      2. safe mode: the body is <xml><ToUserName/><Encrypt>base64</Encrypt></xml> and
         msg_signature = sha1(sorted(token, timestamp, nonce, Encrypt)). Encrypt is AES-256-CBC,
         key = b64decode(EncodingAESKey + "="), IV = key[:16], of
         16 random bytes + 4-byte big-endian length + XML + app id, PKCS#7-padded to 32-byte blocks
      3. the XML (defusedxml: no DTD, no entities, flat <xml> of short fields) is the message
      <-- "success", or a passive text reply (in safe mode encrypted, signed and wrapped again)

Plain mode signs only the query, not the body: safe mode is the one to use in production.
"""
import base64
import hashlib
import hmac
import secrets
import struct
from datetime import datetime
from xml.etree.ElementTree import ParseError

from cryptography.hazmat.primitives.ciphers import Cipher as _AES, algorithms, modes
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from . import errors

MAX_BODY_BYTES = 8 * 1024  # WeChat's events are a few hundred bytes
MAX_FIELD_CHARS = 2048
MAX_SKEW_SECONDS = 300
BLOCK = 32  # WeChat pads to 32 bytes, not AES's 16


def signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def check_query(token: str, args, now: datetime) -> None:
    """The query's signature and timestamp, checked before anything else is read."""
    given = args.get("signature", "")
    timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
    if not hmac.compare_digest(signature(token, timestamp, nonce).encode(), given.encode()[:64]):
        raise errors.OaSignatureInvalid()
    if not timestamp.isdigit() or len(timestamp) > 12 or abs(int(timestamp) - now.timestamp()) > MAX_SKEW_SECONDS:
        raise errors.OaTimestampStale()


def check_msg_signature(token: str, args, encrypted: str) -> None:
    expected = signature(token, args.get("timestamp", ""), args.get("nonce", ""), encrypted)
    if not hmac.compare_digest(expected.encode(), args.get("msg_signature", "").encode()[:64]):
        raise errors.OaSignatureInvalid()


def aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte key of the console's 43-character EncodingAESKey; ValueError if it is not one."""
    if len(encoding_aes_key) != 43:
        raise ValueError("an EncodingAESKey has 43 characters")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except ValueError:  # binascii.Error, or characters outside ASCII
        raise ValueError("an EncodingAESKey is base64 (letters and digits)") from None
    if len(key) != 32:
        raise ValueError("an EncodingAESKey decodes to 32 bytes")
    return key


class Crypto:
    """Safe mode's AES for one app id; the first key encrypts, every key is tried to decrypt (rotation)."""

    def __init__(self, appid: str, encoding_aes_keys: list[str]):
        self.appid = appid.encode()
        self.keys = [aes_key(k) for k in encoding_aes_keys]

    def encrypt(self, xml: bytes) -> str:
        plain = secrets.token_bytes(16) + struct.pack(">I", len(xml)) + xml + self.appid
        pad = BLOCK - len(plain) % BLOCK
        key = self.keys[0]
        encryptor = _AES(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
        return base64.b64encode(encryptor.update(plain + bytes([pad]) * pad) + encryptor.finalize()).decode()

    def decrypt(self, encrypted: str) -> bytes:
        """The XML inside; raises when no key opens it or it was sealed for another app id."""
        try:
            data = base64.b64decode(encrypted, validate=True)
        except ValueError:  # binascii.Error, or characters outside ASCII
            raise errors.OaDecryptionFailed() from None
        if not data or len(data) % 16:
            raise errors.OaDecryptionFailed()
        for key in self.keys:
            opened = _open(key, data)
            if opened is None:
                continue
            xml, appid = opened
            if not hmac.compare_digest(appid, self.appid):
                raise errors.OaWrongAppId()
            return xml
        raise errors.OaDecryptionFailed()


def _open(key: bytes, data: bytes) -> tuple[bytes, bytes] | None:
    """(xml, app id) when this key opens a well-formed plaintext, else None."""
    decryptor = _AES(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = decryptor.update(data) + decryptor.finalize()
    pad = plain[-1]
    if not 1 <= pad <= BLOCK or plain[-pad:] != bytes([pad]) * pad:
        return None
    plain = plain[:-pad]
    if len(plain) < 20:
        return None
    (length,) = struct.unpack(">I", plain[16:20])
    if 20 + length > len(plain):
        return None
    return plain[20:20 + length], plain[20 + length:]


def parse(xml: bytes) -> dict[str, str]:
    """A flat <xml> message as {field: text}; anything else (DTDs, entities, nesting) is refused."""
    if len(xml) > MAX_BODY_BYTES:
        raise errors.OaMessageInvalid("The message is too large.")
    try:
        root = fromstring(xml, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError):
        raise errors.OaMessageInvalid() from None
    if root.tag != "xml" or len(root) > 32:
        raise errors.OaMessageInvalid()
    fields = {}
    for child in root:
        if not isinstance(child.tag, str) or len(child) or len(child.text or "") > MAX_FIELD_CHARS:
            raise errors.OaMessageInvalid()
        fields[child.tag] = (child.text or "").strip()
    return fields


def _cdata(text: str) -> str:
    # "]]>" cannot appear inside CDATA: end the section there and start another.
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def render(fields: dict[str, str | int]) -> bytes:
    """A flat <xml> message as WeChat writes one (numbers bare, text in CDATA)."""
    inner = "".join(
        f"<{name}>{value if isinstance(value, int) else _cdata(value)}</{name}>" for name, value in fields.items()
    )
    return f"<xml>{inner}</xml>".encode()


def text_reply(message: dict[str, str], content: str, now: int) -> bytes:
    """The passive reply to `message`: a text the person reads in their chat with the account."""
    return render({"ToUserName": message["FromUserName"], "FromUserName": message.get("ToUserName", ""),
                   "CreateTime": now, "MsgType": "text", "Content": content})


def seal(crypto: Crypto, token: str, xml: bytes, timestamp: str, nonce: str) -> bytes:
    """A reply in safe mode: encrypted, signed, wrapped."""
    encrypted = crypto.encrypt(xml)
    return render({"Encrypt": encrypted, "MsgSignature": signature(token, timestamp, nonce, encrypted),
                   "TimeStamp": int(timestamp), "Nonce": nonce})


def unwrap(token: str, crypto: Crypto | None, args, body: bytes) -> dict[str, str]:
    """The message of a POST whose query signature was already checked.

    With a crypto (safe mode configured) only encrypted messages are accepted: a plain
    one would carry a body that no signature covers.
    """
    if crypto is None:
        return parse(body)
    if args.get("encrypt_type") != "aes":
        raise errors.OaMessageInvalid("Safe mode is on: messages must be encrypted (encrypt_type=aes).")
    encrypted = parse(body).get("Encrypt", "")
    check_msg_signature(token, args, encrypted)
    return parse(crypto.decrypt(encrypted))


def signed_query(token: str, timestamp: int, nonce: str, **extra: str) -> dict[str, str]:
    """The query WeChat puts on a push (used by the development page that plays WeChat)."""
    return {"signature": signature(token, str(timestamp), nonce), "timestamp": str(timestamp), "nonce": nonce,
            **extra}
