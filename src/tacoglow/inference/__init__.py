"""tacoglow.inference"""
