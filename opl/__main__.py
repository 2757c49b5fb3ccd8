"""``python -m opl``: the same as the ``opl`` command."""

import sys

from opl.cli import main

sys.exit(main())
