"""``python -m recneg``: the same command line as ``recneg``."""
import sys

from .cli import main

sys.exit(main())
