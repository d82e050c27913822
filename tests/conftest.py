"""Suite-wide test settings.

Hypothesis profiles: ``dev`` (the default) explores new random examples on every run; ``ci``
(``HYPOTHESIS_PROFILE=ci``, set by ``.ci/run``) is derandomized, so CI's verdict on a commit is
the verdict anyone gets by re-running it. Per-test ``@settings`` still set the example counts.
"""

import os

from hypothesis import settings

settings.register_profile("dev")
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
