"""``python -m bcx.paper [--scale tiny] [--out DIR]``."""

from bcx.paper.driver import main

main()
