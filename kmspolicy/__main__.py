"""``python -m kmspolicy``."""

from kmspolicy.cli import main

main()
