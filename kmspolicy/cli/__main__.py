"""``python -m kmspolicy.cli``."""

from kmspolicy.cli import main

main()
