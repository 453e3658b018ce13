"""`python -m execrole` is the `execrole` command."""

import sys

from .cli.main import main

sys.exit(main())
