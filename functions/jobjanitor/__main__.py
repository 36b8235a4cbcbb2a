"""``python -m jobjanitor``."""

import sys

from jobjanitor.cli import main

sys.exit(main())
