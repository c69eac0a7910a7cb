"""``python -m stream.bench``: the pipeline benchmark (``stream.bench.web`` and ``stream.bench.batch`` are its siblings)."""

import sys

from stream.bench.main import main

if __name__ == "__main__":
    sys.exit(main())
