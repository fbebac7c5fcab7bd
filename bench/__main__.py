"""`python -m bench [--quick] [--out PATH]`: see bench/README.md."""

import sys

from .runner import main

if __name__ == "__main__":
    sys.exit(main())
