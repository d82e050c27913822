"""Which optional extra brings which third-party module, and the error naming the pip command.

Layer: below every layer but errors (the CLI and the facade use it). ``pip install kmspolicy`` is
the policy toolkit; the service and the stores come with extras (pyproject.toml). A command or
a facade name that reaches a module of a missing extra answers with exactly what to install,
never a traceback.
"""

from __future__ import annotations

from types import MappingProxyType

from kmspolicy.errors import UserError

#: top-level module -> the extra that installs it (pyproject.toml's optional-dependencies)
EXTRA_OF_MODULE = MappingProxyType(
    {
        "botocore": "server",
        "cryptography": "server",
        "httptools": "server",
        "jinja2": "server",
        "orjson": "server",
        "pybase64": "server",
        "uvicorn": "server",
        "uvloop": "server",
        "psycopg": "postgres",
        "pkcs11": "hsm",
        "z3": "check",
    }
)
#: an extra -> the extras it includes (pyproject.toml: postgres and hsm bring the server)
INCLUDES = MappingProxyType(
    {
        "postgres": frozenset({"server"}),
        "hsm": frozenset({"server"}),
    }
)


class MissingExtra(UserError):
    """A module of an optional extra is not installed; the message is the pip command."""

    def __init__(self, what: str, module: str, extra: str) -> None:
        self.module = module
        self.extra = extra
        self.command = f"pip install 'kmspolicy[{extra}]'"
        super().__init__(
            f"{what} needs the `{extra}` extra ({module} is not installed): {self.command}"
        )


def missing_extra(exc: ImportError, what: str, wants: str | None = None) -> MissingExtra | None:
    """The MissingExtra for an ImportError of an extra's module, or None for any other.
    ``wants``: the extra ``what`` needs as a whole (``kmspolicy hsm``: hsm, which includes the
    server), named instead when it includes the missing module's."""
    name = (exc.name or "").partition(".")[0]
    extra = EXTRA_OF_MODULE.get(name)
    if extra is None:
        return None
    if wants is not None and extra in INCLUDES.get(wants, frozenset()):
        extra = wants
    return MissingExtra(what, name, extra)
