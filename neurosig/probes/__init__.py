"""neurosig.probes"""
