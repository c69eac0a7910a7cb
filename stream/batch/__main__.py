"""``python -m stream.batch INPUTS... --output-dir DIR``."""

import sys

from stream.batch.cli import main

if __name__ == "__main__":
    sys.exit(main())
