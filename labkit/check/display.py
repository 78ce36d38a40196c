"""How feedback looks: coloured HTML in Jupyter, plain text (coloured on a terminal) elsewhere.

A :class:`Message` is a value, so checks build it without side effects and a
notebook can show it as a cell's result; :func:`show` is the one place that
writes to the screen.
"""

from __future__ import annotations

import html
import sys
from dataclasses import dataclass

# tone: (CSS colour, ANSI colour code, plain-text mark)
_TONES = {
    "success": ("#1b7a2e", "32", "✓"),
    "failure": ("#c0262d", "31", "✗"),
    "hint": ("#1a5fb4", "34", ""),
    "solution": ("#6c3fa0", "35", ""),
}


@dataclass(frozen=True)
class Message:
    """Something to show a student: a coloured title, a sentence, a numbered list, maybe code.

    Attributes
    ----------
    tone : {"success", "failure", "hint", "solution"}
        Decides the colour: green for success, red for failure.
    title : str
    body : str
        A paragraph under the title.
    items : tuple of str
        Shown numbered, one per line (the differences a check found).
    code : str, optional
        Shown verbatim, in a monospaced block.
    """

    tone: str
    title: str
    body: str = ""
    items: tuple[str, ...] = ()
    code: str | None = None

    def __post_init__(self):
        if self.tone not in _TONES:
            raise ValueError(f"tone={self.tone!r}; use one of {', '.join(_TONES)}.")

    def text(self, colour: bool = False) -> str:
        """Plain text; with ``colour``, the title carries ANSI colour for a terminal."""
        _, ansi, mark = _TONES[self.tone]
        title = f"{mark} {self.title}".strip()
        lines = [f"\033[1;{ansi}m{title}\033[0m" if colour else title]
        if self.body:
            lines.append(self.body)
        lines += [f"  {number}. {item}" for number, item in enumerate(self.items, start=1)]
        if self.code is not None:
            lines += ["", *(f"    {line}" for line in self.code.strip("\n").splitlines())]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        css_colour, _, _ = _TONES[self.tone]
        parts = [
            f'<div style="border-left: 4px solid {css_colour}; padding: 0.2em 0.8em; margin: 0.3em 0">',
            f'<strong style="color: {css_colour}">{html.escape(self.title)}</strong>',
        ]
        if self.body:
            parts.append(f"<p>{html.escape(self.body)}</p>")
        if self.items:
            parts.append("<ol>" + "".join(f"<li>{html.escape(item)}</li>" for item in self.items) + "</ol>")
        if self.code is not None:
            parts.append(f"<pre><code>{html.escape(self.code.strip(chr(10)))}</code></pre>")
        parts.append("</div>")
        return "\n".join(parts)

    def _repr_pretty_(self, printer, cycle: bool) -> None:  # IPython's plain-text display
        printer.text(self.text())


class ShownAsMessage:
    """A check's outcome that shows itself as its :class:`Message`: a cell's result, ``str``, an assertion.

    Subclasses say whether they ``passed`` and build their ``message()``.
    """

    passed: bool

    def message(self) -> Message:
        raise NotImplementedError

    def __bool__(self) -> bool:
        return self.passed

    def assert_ok(self) -> None:
        """Raise AssertionError listing what failed; for nbgrader's hidden test cells."""
        if not self.passed:
            raise AssertionError(str(self))

    def __str__(self) -> str:
        return self.message().text()

    def _repr_html_(self) -> str:
        return self.message()._repr_html_()

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        printer.text(str(self))


def show(message: Message) -> None:
    """Display ``message`` as HTML in a notebook, or print it (coloured on a terminal)."""
    if _in_ipython():
        from IPython.display import display

        display(message)
    else:
        print(message.text(colour=sys.stdout.isatty()))


def _in_ipython() -> bool:
    """True inside IPython or a Jupyter kernel; never imports IPython when it is not running."""
    if "IPython" not in sys.modules:
        return False
    from IPython import get_ipython

    return get_ipython() is not None
