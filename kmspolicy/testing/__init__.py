"""Compliance suites: the ``*.kmstest.yaml`` format (``schema``, ``suite``), the runner and its
statement coverage (``runner``, ``coverage``, ``report``), ``simulate`` and the pytest plugin.

Layer: testing (assembles lang + authz, and the in-process service for the plugin's fixtures).
Nothing is imported here: pytest loads ``kmspolicy.testing.plugin`` at every startup.
"""
