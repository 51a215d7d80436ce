"""Text from linted files made safe to print: a file's control characters must never reach a
terminal (`\x1b[2J` clears it, `\x07` rings it) or an XML report (XML 1.0 forbids them)."""

from __future__ import annotations

import re

# C0 controls but tab and line feed, DEL, and the C1 controls (U+009B is a CSI to some
# terminals).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# What XML 1.0 does not allow in a document at all, once controls are shown: lone surrogates,
# U+FFFE and U+FFFF.
_NOT_XML = re.compile("[\ud800-\udfff\ufffe\uffff]")


def _picture(match: re.Match) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)  # the Control Pictures block: \x1b -> ␛, \x07 -> ␇
    if code == 0x7F:
        return "\u2421"  # ␡
    return "\ufffd"  # C1 controls have no picture


def visible(text: str) -> str:
    """`text` with each control character (but tab and line feed) replaced by one visible
    character, as ruff shows them: columns under a code frame stay aligned."""
    if text.isprintable() or not _CONTROL.search(text):
        return text
    return _CONTROL.sub(_picture, text)


def xml_safe(text: str) -> str:
    """`visible(text)` without the characters XML 1.0 forbids (replaced by U+FFFD)."""
    return _NOT_XML.sub("\ufffd", visible(text))
