"""The ``kmspolicy`` command line: one module per command, discovered by name.

Layer: cli (adapter, top of the stack). A module ``kmspolicy/cli/<name>.py`` that defines a
``click.Command`` called ``command`` becomes ``kmspolicy <name>`` (underscores become dashes);
modules starting with ``_`` are helpers. Exit codes: 0 success, 1 a check failed (``--check``,
``--expect``, failing suite, lint findings), 2 usage or input errors, 3 an internal error.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from types import MappingProxyType
from typing import Any

import click

from kmspolicy._extras import missing_extra
from kmspolicy._version import __version__
from kmspolicy.errors import InternalError, KmsPolicyError, UserError

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3


def _command_modules() -> dict[str, str]:
    return {
        info.name.replace("_", "-"): f"{__name__}.{info.name}"
        for info in pkgutil.iter_modules(__path__)
        if not info.name.startswith("_")
    }


class _LazyGroup(click.Group):
    """Imports a command's module only when click looks that command up (fast startup)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_command_modules())

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module_name = _command_modules().get(cmd_name)
        if module_name is None:
            return None
        command = getattr(importlib.import_module(module_name), "command", None)
        return command if isinstance(command, click.Command) else None


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kmspolicy", message="%(prog)s %(version)s")
def cli() -> None:
    """kmspolicy: a key-management engine in which every key operation is decided by a policy."""


#: commands that need an extra as a whole (the others name the extra of the missing module)
_COMMAND_EXTRA = MappingProxyType({"hsm": "hsm"})


def _command_name(argv: list[str] | None) -> str:
    args = sys.argv[1:] if argv is None else argv
    return next((a for a in args if not a.startswith("-")), "")


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point: no traceback ever reaches the user for bad input."""
    try:
        return cli.main(args=argv, prog_name="kmspolicy", standalone_mode=True)
    except UserError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    except ImportError as exc:
        # `pip install kmspolicy` is the policy toolkit: a command that needs an extra says
        # which one to install (kmspolicy._extras), exit 2 as for any usage error
        name = _command_name(argv)
        what = f"`kmspolicy {name}`" if name else "`kmspolicy`"
        missing = missing_extra(exc, what, _COMMAND_EXTRA.get(name))
        if missing is None:
            raise
        click.echo(f"error: {missing}", err=True)
        sys.exit(EXIT_USAGE)
    except (InternalError, KmsPolicyError) as exc:
        click.echo(f"internal error: {exc}", err=True)
        sys.exit(EXIT_INTERNAL)
