"""What every check returns: a verdict that explains itself.

A :class:`Report` is truthy when the check passed, lists every
:class:`Difference` it found (not only the first), reads as a teaching
message, shows itself in colour as a notebook cell's result, and turns into a
failing assertion for nbgrader's hidden tests::

    labkit.check.architecture(model, SPEC).assert_ok()
"""

from __future__ import annotations

from dataclasses import dataclass

from labkit.check.display import Message, ShownAsMessage


@dataclass(frozen=True)
class Difference:
    """One way the model is not what was expected, and what to do about it.

    Attributes
    ----------
    aspect : str
        What differs, for code that grades or filters: ``"missing layer"``,
        ``"extra layer"``, ``"layer kind"``, a setting (``"units"``,
        ``"activation"``, ``"kernel_size"``, ...), ``"output_shape"``,
        ``"params"``, or a behaviour (``"no gradient"``, ...).
    message : str
        The explanation a student reads.
    layer : int, optional
        The 1-based position in the spec that the difference is about.
    """

    aspect: str
    message: str
    layer: int | None = None

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Report(ShownAsMessage):
    """The outcome of a check: passed when there are no differences.

    Attributes
    ----------
    summary : str
        One sentence: what was checked and how it went.
    differences : tuple of Difference
    """

    summary: str
    differences: tuple[Difference, ...] = ()
    # IPython prefers the __repr__ a dataclass writes into the class to a base's _repr_pretty_.
    _repr_pretty_ = ShownAsMessage._repr_pretty_

    @property
    def passed(self) -> bool:
        return not self.differences

    def message(self) -> Message:
        """The report as something to show: green when passed, red with every difference otherwise."""
        return Message(
            "success" if self.passed else "failure",
            self.summary,
            items=tuple(difference.message for difference in self.differences),
        )
