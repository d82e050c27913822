"""kmspolicy.store (see DESIGN.md for this layer's role)."""
