"""tacoglow.bench"""
