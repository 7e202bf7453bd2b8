"""TOP's request signature (marketplace-apis.md §5.1): every parameter
but ``sign`` with a value, sorted by name (ASCII), written ``name +
value`` one after the other, then

- md5: ``MD5(secret + text + secret)``,
- hmac: ``HMAC-MD5(key=secret, text)``,
- hmac-sha256: ``HMAC-SHA256(key=secret, text)``,

in upper-case hex, all in UTF-8. The sandbox signs on its own: it shares
no code with the agent's adapter, so that one checks the other."""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

SIGN_METHODS = ('md5', 'hmac', 'hmac-sha256')


def signed_text(params: Mapping[str, str]) -> str:
    "The parameters as they are signed (without the secret)"
    return ''.join(f'{name}{value}' for name, value in sorted(
            params.items()) if name != 'sign' and value not in (None, ''))


def sign(params: Mapping[str, str], secret: str,
        method: str = 'md5') -> str:
    text = signed_text(params).encode('utf-8')
    key = secret.encode('utf-8')
    if method == 'md5':
        digest = hashlib.md5(key + text + key).hexdigest()
    elif method == 'hmac':
        digest = hmac.new(key, text, hashlib.md5).hexdigest()
    elif method == 'hmac-sha256':
        digest = hmac.new(key, text, hashlib.sha256).hexdigest()
    else:
        raise ValueError(f"sign_method must be one of {SIGN_METHODS}")
    return digest.upper()
