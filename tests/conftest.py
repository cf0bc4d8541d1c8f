"""Cross-service system tests: run with `-p no:django` from the repository root.

Makes the repository root importable, so tests can ``import manage_all`` and read its process
table whichever way pytest was started.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
