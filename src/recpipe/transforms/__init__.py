"""Pure DataFrame -> DataFrame transforms. Parameterised ones return a function for ``df.transform``."""
