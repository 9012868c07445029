"""`python -m pneumo_desktop` is the same as the `pneumo-desktop` command."""

import sys

from pneumo_desktop.cli import main

sys.exit(main())
