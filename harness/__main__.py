"""`python -m harness` runs the same entry point as the `harness` console script."""

import sys

from harness.cli import main

sys.exit(main())
