"""`python -m nnb ...`: the same command line as the `nnb` script."""
import sys

from nnb.cli import main

sys.exit(main())
