"""`python -m pneumo_desktop`: the same command line as `pneumo-desktop`."""

import sys

from pneumo_desktop.cli import main

if __name__ == "__main__":  # the compute process (spawned) imports this module again
    sys.exit(main())
