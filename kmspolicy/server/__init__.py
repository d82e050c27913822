"""kmspolicy.server (see DESIGN.md for this layer's role)."""
