"""`python -m draganything ...`: see draganything/cli.py."""

import sys

from .cli import main

sys.exit(main())
