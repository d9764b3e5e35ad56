"""User text in Markdown, made inert: names, comments, notes and data are only ever text."""

from __future__ import annotations

import html


def code(text) -> str:
    """Text for a Markdown code span (backticks removed; nothing inside is interpreted)."""
    return "`" + str(text).replace("`", "'") + "`"


def md(text) -> str:
    """Text safe to put inside Markdown: every Markdown and HTML character escaped."""
    out = html.escape(str(text), quote=False)
    for ch in "\\`*_{}[]()#+-.!|~<>$":
        out = out.replace(ch, "\\" + ch)
    return out
