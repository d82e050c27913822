"""``--color auto|always|never`` for the commands that print for people.

Layer: cli (adapter). ``auto`` colours only a terminal, and never when ``NO_COLOR`` is set to
anything (no-color.org) or ``TERM`` is ``dumb``; ``always`` and ``never`` override both.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def color_option(func: F) -> F:
    return click.option(
        "--color",
        "color",
        type=click.Choice(["auto", "always", "never"]),
        default="auto",
        show_default=True,
        help="Colour the output (auto: on a terminal, unless NO_COLOR is set).",
    )(func)


def use_color(choice: str, stream: Any = None) -> bool:
    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    stream = sys.stdout if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
