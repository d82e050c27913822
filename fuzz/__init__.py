"""The standing fuzz campaign: targets over kmspolicy's parsers and verifiers, the engines that
drive them (atheris, coverage-guided; hypothesis), and hostile KMS request bodies generated from
botocore's model. ``python -m fuzz --help``; docs/fuzzing.md."""
