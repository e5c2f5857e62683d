"""``python -m skralif``: the same as the ``skralif`` console script."""

import sys

from .cli import main

sys.exit(main())
