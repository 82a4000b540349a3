"""Visitor text (file names, dataset names, group labels) made safe for plotly.

Plotly renders a subset of HTML in every text it draws — titles, axis tick labels, legend entries, annotations,
hover labels (``<a href>``, ``<b>``, ``<br>``, ``<span style>``, ...) — and decodes entities (``&#47;``). A file called
``<a href="https://evil.example">Re-login</a>.jpg`` would become a link in a hover label. :func:`plot_text` makes
such a string display literally: ``&``, ``<`` and ``>`` become entities, which plotly decodes back to the characters
for display. Braces become entities too, so a name cannot inject a ``%{variable}`` into a hover template that
quotes it.
"""
from __future__ import annotations

from typing import Iterable

__all__ = ["plot_text", "plot_texts"]

_ENTITIES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "{": "&#123;", "}": "&#125;"})


def plot_text(text) -> str:
    """``str(text)`` with ``& < > { }`` as HTML entities: shown literally by plotly, never as markup.

    Examples
    --------
    >>> plot_text('<a href="x">A&B</a>')
    '&lt;a href="x"&gt;A&amp;B&lt;/a&gt;'
    """
    return str(text).translate(_ENTITIES)


def plot_texts(texts: Iterable) -> list[str]:
    """:func:`plot_text` of each element (tick labels, ``customdata`` columns)."""
    return [plot_text(t) for t in texts]
