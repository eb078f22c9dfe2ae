"""neurosig.kernels"""
