"""`python -m ioc`: the `rogue-ioc` command."""

import sys

from ioc.cli import main

sys.exit(main())
