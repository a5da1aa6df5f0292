"""mkdocs hook: render the LaTeX of the pages to MathML at build time.

Browsers draw MathML natively, so the math shows offline (a `file://` copy of
the site, or a machine with no network), with no JavaScript from a CDN.
pymdownx.arithmatex (generic mode) marks the math; this hook converts it.
"""

import html
import re

from latex2mathml.converter import convert

_MATH = re.compile(
    r'<(span|div) class="arithmatex">\s*\\([(\[])(.*?)\\[)\]]\s*</\1>', re.DOTALL
)


def _to_mathml(match):
    display = "block" if match.group(2) == "[" else "inline"
    return convert(html.unescape(match.group(3)).strip(), display=display)


def on_page_content(html_text, **kwargs):
    return _MATH.sub(_to_mathml, html_text)
