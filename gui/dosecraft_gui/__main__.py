"""``python -m dosecraft_gui`` runs the desktop app."""

import sys

from dosecraft_gui.app import main

sys.exit(main())
