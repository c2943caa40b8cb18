"""The MLflow pyfunc flavour of TagIfAI: a thin wrapper (model.py) and how it is logged (packaging.py)."""
