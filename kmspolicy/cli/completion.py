"""``kmspolicy completion bash|zsh|fish``: print the shell's completion script.

Layer: cli (adapter over click's shell completion). Commands, options and their choices
complete; install with e.g. ``kmspolicy completion bash > ~/.local/share/bash-completion/
completions/kmspolicy`` or ``eval "$(kmspolicy completion zsh)"`` in ``~/.zshrc``.
"""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

from kmspolicy.errors import InternalError

COMPLETE_VAR = "_KMSPOLICY_COMPLETE"


@click.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def command(shell: str) -> None:
    """Print the completion script for SHELL (bash, zsh or fish)."""
    from kmspolicy.cli import cli

    completion = get_completion_class(shell)
    if completion is None:  # click ships all three; a future click might not
        raise InternalError(f"click has no completion for {shell}")
    click.echo(completion(cli, {}, "kmspolicy", COMPLETE_VAR).source())
