"""``python -m svdlib.cli``: the ``svd`` command."""

import sys

from svdlib.cli.app import main

if __name__ == "__main__":
    sys.exit(main())
