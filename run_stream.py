#!/usr/bin/env python3
"""depth stream: live monocular depth (MiDaS v2.1 small, ONNX Runtime, CPU).

The same command as the installed ``depth-stream``; kept so a fresh clone runs without
installing the package.
"""

import sys

from stream.launch import main

if __name__ == "__main__":
    sys.exit(main())
