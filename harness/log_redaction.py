"""Key material out of log records: what zigpy and the radio libraries log at DEBUG.

zigpy logs its ``NetworkInfo`` (network key, trust-centre link key, key table) and link keys as
``Key(key=xx:xx:...)`` / ``KeyData`` reprs: 16 octets joined by ``:``. A run with
``--log-level=DEBUG`` would otherwise carry the HAN's network key (and on a real bench the
link keys derived from install codes) into pytest's captured logs, the Allure ``log``
attachments and a log file. :class:`KeyRedactingFilter`, put on the handlers pytest logs
through, rewrites such records before any handler formats them.

The harness's own code never logs a secret (``InstallCode`` and ``KeyPair`` reprs are masked);
this is for libraries it does not control.
"""

from __future__ import annotations

import logging

from harness.text import MASKED, mask_secrets

#: What a masked run reads as. The rule is the errors' own (:func:`harness.text.mask_secrets`):
#: a run of 18 or more hex digits, together or separated, as zigpy and radio libraries print
#: keys and install codes; an EUI-64 and a DUIS RequestID stay.
MASK = MASKED


def redact(text: str) -> str:
    """``text`` with every run that could be a key or an install code masked."""
    return mask_secrets(text)


class KeyRedactingFilter(logging.Filter):
    """Masks key material in a record's message; lets every record through.

    The record is rewritten in place (message formatted once, arguments dropped), so every
    handler after this one sees the masked text too.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to logging to report
            return True
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


def install(handlers: list[logging.Handler]) -> None:
    """Put one redacting filter on each handler that has none yet."""
    for handler in handlers:
        if not any(isinstance(f, KeyRedactingFilter) for f in handler.filters):
            handler.addFilter(KeyRedactingFilter())
