"""``python -m tacoglow`` runs the command-line interface."""

import sys

from tacoglow.cli import main

sys.exit(main())
