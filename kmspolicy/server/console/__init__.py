"""The web console served by ``kmspolicy serve`` under ``/console/`` (docs/console.md).

Layer: server (adapter). app (routes and pages; every KMS call through the API's backend),
sessions (cookies, CSRF tokens), throttle (failed sign-ins per address and access key id),
imports (the import key material forms), web (HTTP plumbing, multipart forms, security headers),
access (the access matrix: who-can or the decision point), decisions (the decision log and its
chain's state); templates/ (Jinja2) and static/ (one stylesheet, one small script) ship in the
wheel.
"""
