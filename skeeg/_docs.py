"""Docstring fragments shared by several public classes (MNE-Python's ``fill_doc``).

A class docstring names a fragment as a line ``%(name)s``; :func:`fill_doc`
replaces it with the fragment, indented like that line. One text per fact keeps
the documentation of attributes set by shared code (:func:`validate_eeg`) the
same everywhere.
"""

from __future__ import annotations

import re
from typing import TypeVar

T = TypeVar("T")

docdict = {
    # Set by skeeg._validation.validate_eeg in fit.
    "eeg_fit_attributes": """\
n_features_in_ : int
    As in scikit-learn: ``n_times`` for 2-D input, ``n_channels`` for 3-D.
n_channels_in_ : int
    Channels seen in ``fit``.
n_times_in_ : int
    Time samples per window seen in ``fit``.""",
}

_PLACEHOLDER = re.compile(r"^([ \t]*)%\((\w+)\)s$", re.MULTILINE)


def fill_doc(obj: T) -> T:
    """Replace each ``%(name)s`` line of ``obj.__doc__`` with ``docdict[name]``.

    Raises ``KeyError`` naming an unknown fragment, at import time.
    """

    def fill(match: re.Match) -> str:
        indent, name = match.groups()
        if name not in docdict:
            raise KeyError(f"{obj.__qualname__} uses unknown fragment %({name})s.")
        return "\n".join(
            indent + line if line else line for line in docdict[name].splitlines()
        )

    if obj.__doc__:
        obj.__doc__ = _PLACEHOLDER.sub(fill, obj.__doc__)
    return obj
