"""Shared torch building blocks (attention, positional/sensor encoders, patch embeddings)."""
