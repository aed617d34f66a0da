"""`python -m nst_nodes` runs the `nst` command line."""

import sys

from .cli import main

sys.exit(main())
