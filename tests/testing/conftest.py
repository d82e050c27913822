"""Suites under ``suites/`` are test data (one is broken on purpose): the kmspolicy pytest plugin
must not collect them as part of the project's own test run."""

collect_ignore = ["suites"]
