"""Redis serving: the key contract, the value encoding, the bulk publisher and the reader an app copies."""

from recpipe.serving.reader import RecommendationReader

__all__ = ["RecommendationReader"]
