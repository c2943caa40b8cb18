"""Monitoring: the inference log's table, and `tagifai monitor`, which compares a window of it with the served
version's reference profile (drift signals, an accuracy estimate, measured accuracy when labels are given)."""
