"""Text that came from a visitor (file names, zip entry names, dataset names, CSV group labels, error messages that
quote them), made safe to show through Streamlit's Markdown.

Almost everything Streamlit shows is Markdown: ``st.markdown``, ``st.caption``, ``st.error``/``warning``/``info``,
``help=`` tooltips, widget and button labels, radio options, expander titles, image captions. A file called
``[Re-login](https://evil.example)`` would render as a link there, ``**x**`` as bold, ``$x$`` as maths and
``:red[x]`` as coloured text. :func:`md_escape` turns such a string into Markdown that displays the same characters
literally. (``st.dataframe`` cells, selectbox options and download file names are plain text: do not escape those.)

Plotly strings are another syntax (a subset of HTML): see :func:`core.charts.safe.plot_text`.
"""
from __future__ import annotations

import re

__all__ = ["md_escape"]

# CommonMark: "any ASCII punctuation character may be backslash-escaped", and an escaped character is always
# literal text, so escaping all of them disarms links, emphasis, code, HTML, entities (&#47;), tables, headings,
# lists, maths ($) and Streamlit's directives (:red[...]) without a list of which ones matter where.
_PUNCT = re.compile(r"""([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])""")
_BREAKS = re.compile(r"[\r\n\u2028\u2029\x0b\x0c\x85]+")


def md_escape(text) -> str:
    """``text`` as Markdown that renders literally, on one line.

    Parameters
    ----------
    text : object
        Converted with ``str``.

    Returns
    -------
    str
        Every ASCII punctuation character backslash-escaped; line breaks replaced by a space (a name is one line).

    Examples
    --------
    >>> md_escape("[Re-login](https://evil.example)")
    '\\\\[Re\\\\-login\\\\]\\\\(https\\\\:\\\\/\\\\/evil\\\\.example\\\\)'
    """
    return _PUNCT.sub(r"\\\1", _BREAKS.sub(" ", str(text)))
