"""Memory planning: tensor lifetimes, buffer sharing and one-arena offsets."""
