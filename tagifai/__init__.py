"""TagIfAI: tag machine-learning projects as nlp, cv, mlops or other."""

__version__ = "0.1.0"
