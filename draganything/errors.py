"""One error type for bad input, phrased for the person who supplied it, and the checks every module shares."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class DragAnythingError(ValueError):
    """Bad input: names the input, says what was wrong and how to fix it.

    Raised for anything a user can correct (a malformed trajectory, a wrong weight file, a mask that does not
    fit the image). The message is one paragraph and never needs a traceback to be understood.
    """

    def __init__(self, input_name: str, problem: str, fix: str):
        self.input_name = input_name
        self.problem = problem
        # The fix is the paragraph's last sentence whatever case and ending its author gave it.
        fix = fix.strip()
        self.fix = fix[:1].upper() + fix[1:] + ("" if fix.endswith((".", "?", "!")) else ".")
        super().__init__(f"{input_name}: {problem}. {self.fix}")


def check_choice(input_name: str, value, choices: Sequence[str], kind: str, note: str = "") -> None:
    """Raise unless ``value`` is one of ``choices``; ``kind`` names what it is, with its article ("a mode")."""
    if not isinstance(value, str) or value not in choices:
        raise DragAnythingError(
            input_name, f"{value!r} is not {kind}", f"Use one of {', '.join(choices)}{f' ({note})' if note else ''}"
        )


def check_positive_int(input_name: str, value, what: str) -> int:
    """``value`` as an int when it is a positive integer (bools refused), else DragAnythingError about ``what``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise DragAnythingError(input_name, f"{value!r} is not {what}", "Pass a positive integer")
    return int(value)
