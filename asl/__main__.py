"""``python -m asl``: the same as the ``asl`` command."""

from .cli import main

main()
