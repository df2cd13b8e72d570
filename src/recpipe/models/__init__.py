"""Retrieval models and their evaluation: numpy, scipy, implicit and gensim only (no Spark)."""
