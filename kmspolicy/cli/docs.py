"""``kmspolicy docs [PAGE]``: read the documentation shipped inside the installed package.

Layer: cli (adapter). Without a page it lists the pages; ``--path`` prints where they are.
"""

from __future__ import annotations

import click

from kmspolicy.cli._docs import docs_root, pages, read_page


@click.command()
@click.argument("page", required=False)
@click.option("--path", "show_path", is_flag=True, help="Print the directory of the pages.")
def command(page: str | None, show_path: bool) -> None:
    """Print documentation PAGE (e.g. `lint`, `suites`, `server`), or list the pages."""
    if show_path:
        click.echo(str(docs_root()))
        return
    if page is None:
        for name in pages():
            click.echo(name.removesuffix(".md"))
        return
    click.echo(read_page(page), nl=False)
