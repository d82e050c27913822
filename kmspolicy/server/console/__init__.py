"""The web console served by ``kmspolicy serve`` under ``/console/`` (docs/console.md).

Layer: server (adapter). app (routes and pages; every KMS call through the API's backend),
sessions (cookies, CSRF tokens, sign-in throttling), web (HTTP plumbing and security headers),
access (the access matrix: who-can or the decision point), decisions (the decision log and its
chain's state); templates/ (Jinja2) and static/ (one stylesheet, one small script) ship in the
wheel.
"""
