"""Item response theory: models, ability estimators, adaptive selection, calibration.

Pure numpy/scipy; see docs/psychometrics.md for the formulas and their sources.
"""
