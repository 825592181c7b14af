"""tacoglow.training"""
