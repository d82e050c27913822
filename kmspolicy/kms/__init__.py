"""kmspolicy.kms (see DESIGN.md for this layer's role)."""
