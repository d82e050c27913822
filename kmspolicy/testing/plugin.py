"""The pytest plugin (entry point ``pytest11``): collects ``*.kmstest.yaml`` compliance suites.

Layer: testing (adapter).
"""
