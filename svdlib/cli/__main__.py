"""``python -m svdlib.cli``: the ``svd`` command."""

import sys

from svdlib.cli.app import main

sys.exit(main())
