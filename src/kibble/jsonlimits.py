"""Cheap checks on a JSON body before anything parses it. Pure, no I/O.

A 10 MB body of ``[[[[...`` or a million-element array is valid JSON that can exhaust
the parser's stack or the server's memory; we measure nesting and value count on the raw
bytes (strings blanked first, so brackets inside strings do not count) in linear time.
"""

from __future__ import annotations

import re

from kibble.errors import UsageError

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")


def check_json_shape(body: bytes, *, max_depth: int, max_items: int) -> None:
    """Raise UsageError (400) when ``body`` nests deeper than ``max_depth`` or holds more
    than ``max_items`` values. Malformed JSON is left for the parser to report."""
    skeleton = _STRING.sub(b'""', body)
    items = skeleton.count(b",") + 1
    if items > max_items:
        raise UsageError(
            f"the JSON body holds about {items} values; the limit is {max_items}",
            hint="send fewer values per request (paginate or batch)",
        )
    depth = deepest = 0
    for match in _BRACKETS.finditer(skeleton):
        depth += 1 if match.group() in (b"[", b"{") else -1
        if depth > deepest:
            deepest = depth
            if deepest > max_depth:
                raise UsageError(
                    f"the JSON body nests deeper than {max_depth} levels",
                    hint="flatten the structure; no kibble request needs that much nesting",
                )
