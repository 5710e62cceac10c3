"""Masking of account numbers, IBANs, PANs and URL passwords in anything that is logged.

Invariant: no log record leaves the process with a full account number, IBAN or card number,
or the password of a URL (`postgresql://user:secret@host` or `password=secret`).
`mask()` is for values the code knows are sensitive; `MaskingFilter` is the safety net on every
handler, rewriting any run of 8+ digits, any IBAN-shaped token and any URL password in the
final message.
"""

from __future__ import annotations

import logging
import re

_IBAN = re.compile(r"\b[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}\b")
# Not inside identifiers such as UUIDs ("09621959-73e6-..."): no word character or '-' around.
_DIGITS = re.compile(r"(?<![\w-])\d{8,19}(?![\w-])")
# RFC 3986 userinfo `user:password@`, and libpq's `password=` parameter.
_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")
_PASSWORD_PARAM = re.compile(r"(\bpassword=)[^&\s]*")


def mask(value: str | None, keep: int = 4) -> str:
    """`DE89370400440532013000` -> `**************3000`; short values are fully hidden."""
    if not value:
        return ""
    if len(value) <= keep:
        return "*" * len(value)
    return "*" * (len(value) - keep) + value[-keep:]


def mask_url_password(text: str) -> str:
    """`postgresql://u:secret@h/db?password=x` -> `postgresql://u:***@h/db?password=***`."""
    return _PASSWORD_PARAM.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", text))


def mask_text(text: str) -> str:
    text = mask_url_password(text)
    text = _IBAN.sub(lambda m: mask(m.group(0)), text)
    return _DIGITS.sub(lambda m: mask(m.group(0)), text)


class MaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def install(level: int = logging.INFO) -> None:
    """Configure root logging once, with the masking filter on every handler."""
    root = logging.getLogger()
    if not root.handlers:
        stream = logging.StreamHandler()
        stream.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        root.addHandler(stream)
    root.setLevel(level)
    for handler in root.handlers:
        if not any(isinstance(f, MaskingFilter) for f in handler.filters):
            handler.addFilter(MaskingFilter())
