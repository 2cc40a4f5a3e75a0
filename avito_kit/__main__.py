"""``python -m avito_kit`` is ``avito-kit``."""

import sys

from .cli import main

sys.exit(main())
