"""neurosig.training"""
