"""kmspolicy.authz (see DESIGN.md for this layer's role)."""
