"""`python -m pipeline.cli ...` is `gait ...` (where the console script is not on the PATH)."""

import sys

from pipeline.cli.gait import main

sys.exit(main())
