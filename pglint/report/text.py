"""Text from linted files made safe to print: a file's control characters must never reach a
terminal (`\x1b[2J` clears it, `\x07` rings it), an XML report (XML 1.0 forbids them) or a
review comment; nor may its bidirectional controls reorder what a reader sees (Trojan Source,
CVE-2021-42574: U+202E makes `admin` read as `nimda`)."""

from __future__ import annotations

import re

# Unicode's bidirectional formatting characters: the embeddings and overrides (U+202A-U+202E),
# the isolates (U+2066-U+2069) and the implicit marks (U+200E, U+200F, U+061C); and the line
# and paragraph separators (U+2028, U+2029), which some viewers break a line at.
BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029"
# C0 controls but tab and line feed, DEL, the C1 controls (U+009B is a CSI to some
# terminals) and the bidirectional characters.
_CONTROL = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{BIDI}]")
_CONTROL_OR_NEWLINE = re.compile(f"[\x00-\x08\x0a-\x1f\x7f-\x9f{BIDI}]")
# What XML 1.0 does not allow in a document at all, once controls are shown: lone surrogates,
# U+FFFE and U+FFFF.
_NOT_XML = re.compile("[\ud800-\udfff\ufffe\uffff]")


def _picture(match: re.Match) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)  # the Control Pictures block: \x1b -> ␛, \x07 -> ␇
    if code == 0x7F:
        return "\u2421"  # ␡
    return "\ufffd"  # C1 controls and bidirectional characters have no picture


def visible(text: str) -> str:
    """`text` with each control or bidirectional character (but tab and line feed) replaced by
    one visible character, as ruff shows them: columns under a code frame stay aligned."""
    if text.isprintable() or not _CONTROL.search(text):
        return text
    return _CONTROL.sub(_picture, text)


def one_line(text: str) -> str:
    """`visible(text)` on one line: a line feed is shown as ␊ too (a message naming an
    identifier with a line break in it stays one line of a one-line-per-finding format)."""
    if text.isprintable() or not _CONTROL_OR_NEWLINE.search(text):
        return text
    return _CONTROL_OR_NEWLINE.sub(_picture, text)


def xml_safe(text: str) -> str:
    """`visible(text)` without the characters XML 1.0 forbids (replaced by U+FFFD)."""
    return _NOT_XML.sub("\ufffd", visible(text))
