"""neurosig.evaluation"""
