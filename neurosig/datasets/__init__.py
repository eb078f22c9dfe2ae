"""neurosig.datasets"""
