from __future__ import annotations

import sys

from playground.cli import main

sys.exit(main())
