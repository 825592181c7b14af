"""tacoglow.export"""
