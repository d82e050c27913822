"""The policy files a command works on: files as given, directories walked recursively, and
``-`` for standard input; minus what ``--exclude`` and ``.kmspolicyignore`` files leave out.

Layer: cli (adapter). An ignore file holds one glob per line (``#`` starts a comment); a
pattern matches a path relative to the directory being walked, or any single name in it
(``build``, ``*.generated.json``, ``legacy/*``). ``.kmspolicyignore`` is read from the current
directory and from the top of each directory walked. Hidden directories and dependency trees
(``node_modules``, ``venv`` …) are never walked. A file named explicitly is always taken.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath

from kmspolicy.errors import ConfigError

IGNORE_FILE = ".kmspolicyignore"
POLICY_SUFFIXES = (".kmsp", ".json")
STDIN = Path("-")
_SKIP = frozenset({"node_modules", "venv", "__pycache__", "site-packages"})


def read_ignore_file(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read `{path}`: {exc}") from None
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def excluded(relative: PurePosixPath, patterns: Iterable[str]) -> bool:
    """Whether a path (relative to the walk's top) matches one of the patterns."""
    text = relative.as_posix()
    for pattern in patterns:
        pattern = pattern.rstrip("/").removeprefix("./")
        if fnmatchcase(text, pattern) or any(fnmatchcase(p, pattern) for p in relative.parts):
            return True
        if fnmatchcase(text, f"{pattern}/*"):  # a directory pattern covers what is below it
            return True
    return False


def walk(
    top: Path, suffixes: Sequence[str], exclude: Sequence[str] = (), *, ignore_files: bool = True
) -> list[Path]:
    """Files under ``top`` whose name ends with one of ``suffixes``, sorted."""
    patterns = list(exclude)
    if ignore_files:
        patterns += read_ignore_file(Path(IGNORE_FILE))
        if top.resolve() != Path.cwd().resolve():
            patterns += read_ignore_file(top / IGNORE_FILE)
    found: list[Path] = []
    for folder, subdirs, files in os.walk(top):
        here = PurePosixPath(Path(folder).relative_to(top).as_posix())
        subdirs[:] = sorted(
            d
            for d in subdirs
            if not d.startswith(".") and d not in _SKIP and not excluded(here / d, patterns)
        )
        found.extend(
            Path(folder, name)
            for name in files
            if name.endswith(tuple(suffixes)) and not excluded(here / name, patterns)
        )
    return sorted(found)


def expand(
    paths: Sequence[Path], exclude: Sequence[str] = (), suffixes: Sequence[str] = POLICY_SUFFIXES
) -> list[Path]:
    """Each argument: ``-`` (standard input) and files as given, directories walked."""
    out: list[Path] = []
    for path in paths:
        if path == STDIN or path.is_file():
            out.append(path)
        elif path.is_dir():
            out.extend(walk(path, suffixes, exclude))
        else:
            raise ConfigError(f"{path}: no such file or directory")
    return list(dict.fromkeys(out))
