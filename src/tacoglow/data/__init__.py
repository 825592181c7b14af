"""tacoglow.data"""
