"""Task registry, data loading, featurisation, metrics and the offline world. No torch here."""

import sys

from xstilts.core import files as _files
from xstilts.core import storage as _storage

# Storage and file helpers moved to xstilts.core on 2026-12-08. A sweep's searcher and trackers, pickled by
# Ray with the run directory they write to, name the old module paths; these aliases let such a sweep resume
# under this version. Code imports xstilts.core.
sys.modules.setdefault("xstilts.tasks.storage", _storage)
sys.modules.setdefault("xstilts.tasks.files", _files)
