"""Redis serving: the key contract (keys), the value encoding (encoding), the bulk publisher (publisher) and the
reader an app backend copies (reader.RecommendationReader)."""
